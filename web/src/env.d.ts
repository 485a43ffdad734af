/// <reference types="vite/client" />

interface Window {
  /** What the page shows, for tests and automation (see `main.ts`). */
  __gradcam?: import('./main.js').PageState;
}
