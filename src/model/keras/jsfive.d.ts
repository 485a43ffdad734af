/** The part of jsfive (pure-JS HDF5 reader, no bundled types) that the Keras loader uses. */
declare module 'jsfive' {
  export class Group {
    readonly name: string;
    readonly keys: string[];
    readonly attrs: Record<string, unknown>;
    get(path: string): Group | Dataset | undefined;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename?: string);
  }
  export class Dataset {
    readonly name: string;
    readonly shape: number[];
    readonly dtype: string | unknown[];
    readonly value: ArrayLike<number | bigint>;
    readonly attrs: Record<string, unknown>;
  }
}
