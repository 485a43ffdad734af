/**
 * Where images come from: a file (picker, drop, paste) or the camera. Everything is decoded here, in
 * the page; pixels go to the library as `ImageData`.
 */

/** Photos are scaled down to this many pixels on their long side (the network sees 224² anyway). */
export const MAX_SIDE = 1600;
/** Camera frames are explained at this size, for an interactive frame rate. */
export const LIVE_SIDE = 480;

const canvas = document.createElement('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true })!;

/** Draws a source at most `maxSide` pixels on its long side and reads its pixels. */
function pixelsOf(source: CanvasImageSource, width: number, height: number, maxSide: number): ImageData {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

/** Decodes an image file (EXIF orientation applied); the error names the file. */
export async function filePixels(file: File): Promise<ImageData> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new Error(`${file.name || 'pasted image'}: not an image this browser can decode`);
  }
  try {
    return pixelsOf(bitmap, bitmap.width, bitmap.height, MAX_SIDE);
  } finally {
    bitmap.close();
  }
}

/** The first image file among dropped or pasted items. */
export function firstImage(files: FileList | null | undefined): File | undefined {
  return Array.from(files ?? []).find((f) => f.type.startsWith('image/')) ?? files?.[0];
}

/** The camera's current frame. */
export const framePixels = (video: HTMLVideoElement): ImageData => pixelsOf(video, video.videoWidth, video.videoHeight, LIVE_SIDE);

/** Starts the camera (the back one on phones) into `video`. */
export async function startCamera(video: HTMLVideoElement): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser gives no camera access here (it needs https or localhost)');
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch (e) {
    throw new Error(`camera: ${(e as Error).message || (e as Error).name}`);
  }
  video.srcObject = stream;
  await video.play();
  if (!video.videoWidth) await new Promise((r) => video.addEventListener('loadeddata', r, { once: true }));
}

/** Stops the camera. */
export function stopCamera(video: HTMLVideoElement): void {
  (video.srcObject as MediaStream | null)?.getTracks().forEach((t) => t.stop());
  video.srcObject = null;
}
