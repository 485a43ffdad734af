/// <reference types="vite/client" />

interface Window {
  /** What the page shows, for tests and automation (see `main.ts`). */
  __gradcam?: import('./main.js').PageState;
}

/** True on the dev server (it serves ../shared/models under /models/), false in a production build. */
declare const __SERVED_MODELS__: boolean;
