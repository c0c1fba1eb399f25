import { checksumSources } from "../core/solver/checksum.ts";
import { ContextHashCache } from "../core/solver/hash_cache.ts";
const rss = () => Math.round(Deno.memoryUsage().rss / 1e6);
console.log("start rss", rss());
const c2 = new ContextHashCache();
let t = performance.now();
await checksumSources("/tmp/scratch/big/d0", ["."], { hashCache: c2 });
console.log("tiny dir", rss(), (performance.now() - t).toFixed(0));
t = performance.now();
const mf = Deno.args[0] === "big";
if (mf) { await checksumSources("/tmp/scratch/big", ["big.bin"], { hashCache: c2 }); console.log("big file only", rss(), (performance.now() - t).toFixed(0)); }
await checksumSources("/tmp/scratch/big", ["."], { hashCache: c2 });
console.log("all", rss(), (performance.now() - t).toFixed(0));
t = performance.now();
await checksumSources("/tmp/scratch/big", ["."], { hashCache: c2 });
console.log("all again (cached)", rss(), (performance.now() - t).toFixed(0));
