/**
 * The state directory (`--state`): the SQLite database, the content store and the
 * per-backend snapshot and executor directories.
 *
 * @module
 */
import { ContentStore } from "../content/store.ts";
import { ImageStore } from "../image/store.ts";
import { ImgError } from "../errors.ts";
import { span } from "../trace.ts";
import { StateDB } from "./db.ts";

export { defaultStateDir } from "./default_dir.ts";

/**
 * `dir` and `parts` joined with `/` (the state's own names: no `.` or `..` to resolve). Not
 * `node:path`: the fast path of a rebuild (`cli/rebuild.ts`) opens the state without loading
 * Deno's Node compatibility layer.
 */
function join(dir: string, ...parts: string[]): string {
  // "/" becomes "" and joins as "/x".
  return [dir === "" ? "." : dir.replace(/\/+$/, ""), ...parts].join("/");
}

/** An open state directory. */
export class State implements Disposable {
  /** The directory. */
  readonly dir: string;
  /** The metadata database. */
  readonly db: StateDB;
  /** The blob store. */
  readonly content: ContentStore;
  /** The image names. */
  readonly images: ImageStore;

  private constructor(dir: string, db: StateDB) {
    this.dir = dir;
    this.db = db;
    this.content = new ContentStore(join(dir, "content"));
    this.images = new ImageStore(db);
  }

  /** Opens (creating if needed) the state directory `dir`. */
  static open(dir: string): State {
    using _trace = span("state open");
    try {
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ImgError(
        `Cannot create the state directory ${dir}: ${(e as Error).message}; pass --state DIR`,
      );
    }
    return new State(dir, new StateDB(join(dir, "img.db")));
  }

  /** The directory for a snapshotter backend's trees. */
  snapshotsDir(backend: string): string {
    return join(this.dir, "snapshots", backend);
  }

  /** The directory for OCI runtime state and bundles. */
  get executorDir(): string {
    return join(this.dir, "executor");
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }

  /** Closes the database. */
  [Symbol.dispose](): void {
    this.close();
  }
}
