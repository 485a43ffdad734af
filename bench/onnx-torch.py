"""Plain-torch Grad-CAM on ResNet-18 (forward hook on layer4[-1] + tensor hook, backward of one logit:
what pytorch-grad-cam does), 1 thread, random weights (speed does not depend on the values; torchvision
is not installed, so the architecture is written out). Prints the median ms per map."""
import sys, time, statistics
import torch
from torch import nn
torch.set_num_threads(1)

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None
    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.down(x) if self.down is not None else x))

def layer(cin, cout, stride): return nn.Sequential(Block(cin, cout, stride), Block(cout, cout, 1))
m = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                  layer(64, 64, 1), layer(64, 128, 2), layer(128, 256, 2), layer(256, 512, 2),
                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)).eval()
acts = {}
def fwd_hook(_, __, out):
    acts['a'] = out
    out.register_hook(lambda g: acts.__setitem__('g', g))
m[7][-1].register_forward_hook(fwd_hook)
x = torch.randn(1, 3, 224, 224)
def gradcam():
    m.zero_grad()
    y = m(x)
    y[0, 282].backward()
    a, g = acts['a'], acts['g']
    return torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1)).detach()
for _ in range(2): gradcam()
ts = []
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 7):
    t = time.perf_counter(); gradcam(); ts.append((time.perf_counter() - t) * 1000)
print(statistics.median(ts))
