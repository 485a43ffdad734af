/** Distinct small test images for the queue test and `npm run bench -- serve`: crops of the shared images. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { sharedImage } from './helpers.js';

const SHARED = ['both.png', 'cat_dog.jpg', 'chelsea.png', 'coffee.png', 'dogs.png', 'grace_hopper.jpg', 'squirrel_cls.jpg', 'vegetables.jpg'];

/** N distinct small images (crops of the shared ones), alternating JPEG and PNG. */
export async function makeImages(dir: string, n: number, size: [number, number] = [96, 80]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const src = sharp(sharedImage(SHARED[i % SHARED.length]));
    const { width = 0, height = 0 } = await src.metadata();
    const k = Math.floor(i / SHARED.length);
    const w = Math.round(width * (0.9 - 0.1 * (k % 4)));
    const h = Math.round(height * (0.9 - 0.1 * (k % 4)));
    const img = src.extract({ left: Math.round((width - w) * ((k * 0.37) % 1)), top: Math.round((height - h) * ((k * 0.61) % 1)), width: w, height: h }).resize(size[0], size[1], { fit: 'fill' });
    const name = `img${String(i).padStart(3, '0')}`;
    if (i % 2) await img.png().toFile(path.join(dir, `${name}.png`));
    else await img.jpeg({ quality: 90 }).toFile(path.join(dir, `${name}.jpg`));
  }
}

