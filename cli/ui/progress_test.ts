import assert from "node:assert/strict";
import type { ProgressEvent } from "@img/core";
import {
  type BuildResult,
  createProgressDisplay,
  parseProgressMode,
  type ProgressDisplayOptions,
} from "./progress.ts";
import { formatBytes, goFixed } from "./_progress_plain.ts";

type EventWithoutTime = ProgressEvent extends infer E
  ? E extends ProgressEvent ? Omit<E, "time"> : never
  : never;

const enc = new TextEncoder();
const log = (vertex: string, text: string, stream: 1 | 2 = 1): EventWithoutTime => ({
  type: "log",
  vertex,
  stream,
  data: enc.encode(text),
});

/** Runs a scripted build: each step is [time in ms, event]; the fake clock follows the events. */
function run(
  options: ProgressDisplayOptions,
  script: [number, EventWithoutTime][],
  end: [number, BuildResult],
): string {
  let clock = 0;
  let out = "";
  const display = createProgressDisplay({ ...options, out: (s) => out += s, now: () => clock });
  for (const [time, event] of script) {
    clock = time;
    display.listener({ ...event, time } as ProgressEvent);
  }
  clock = end[0];
  display.done(end[1]);
  return out;
}

// deno-lint-ignore no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");

/** The frames a TTY display painted, each as the lines a user sees. */
function frames(out: string): string[][] {
  return out.split("\x1b[?25l").slice(1).map((f) =>
    stripAnsi(f.split("\x1b[?25h")[0]).split("\n").slice(0, -1)
  );
}

/**
 * What a terminal shows after receiving `out`: a minimal emulator for the sequences the display
 * uses (cursor up, erase line, erase below, cursor hide/show, colors).
 */
function screen(out: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  let col = 0;
  // deno-lint-ignore no-control-regex
  for (const tok of out.match(/\x1b\[[0-9;?]*[A-Za-z]|\n|[^\x1b\n]+/g) ?? []) {
    if (tok === "\n") {
      row++;
      col = 0;
      lines[row] ??= "";
    } else if (tok.startsWith("\x1b[")) {
      const n = Number(tok.slice(2, -1)) || 1;
      if (tok.endsWith("A")) row = Math.max(0, row - n);
      else if (tok === "\x1b[2K") lines[row] = "";
      else if (tok.endsWith("J")) {
        lines[row] = lines[row].slice(0, col);
        lines.length = row + 1;
      }
    } else {
      const line = lines[row].padEnd(col);
      lines[row] = line.slice(0, col) + tok + line.slice(col + tok.length);
      col += tok.length;
    }
  }
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** What comes after the last frame: error logs and warnings. */
function afterFrames(out: string): string {
  return out.slice(out.lastIndexOf("\x1b[?25h") + "\x1b[?25h".length);
}

const DOCKERFILE = "[internal] load build definition from Dockerfile";
const FROM = "[base 1/1] FROM docker.io/library/busybox:latest";
const WARNING =
  "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)";
const EXIT1 = 'process "/bin/sh -c exit 1" did not complete successfully: exit code: 1';

/** A build with a cached step, two concurrent steps with interleaved output, and a failing step. */
const BUILD: [number, EventWithoutTime][] = [
  [0, { type: "vertex.started", vertex: "v1", name: DOCKERFILE }],
  [30, {
    type: "status",
    vertex: "v1",
    id: "transferring dockerfile:",
    name: "",
    current: 284,
    completed: 30,
  }],
  [35, { type: "warning", vertex: "v1", message: WARNING }],
  [40, { type: "vertex.done", vertex: "v1", name: DOCKERFILE }],
  [100, { type: "vertex.cached", vertex: "v2", name: FROM }],
  [200, { type: "vertex.started", vertex: "v3", name: "[a 2/2] RUN make-a" }],
  [210, { type: "vertex.started", vertex: "v4", name: "[b 2/2] RUN make-b" }],
  [300, log("v3", "a1\n")],
  [400, log("v4", "b1\n")],
  [10500, log("v3", "a2\n")],
  [10550, log("v3", "a3\n")],
  [10600, { type: "vertex.done", vertex: "v4", name: "[b 2/2] RUN make-b" }],
  [11000, { type: "vertex.done", vertex: "v3", name: "[a 2/2] RUN make-a" }],
  [11100, { type: "vertex.started", vertex: "v5", name: "[final 2/2] RUN exit 1" }],
  [11350, log("v5", "boom\n", 2)],
  [11400, { type: "vertex.errored", vertex: "v5", name: "[final 2/2] RUN exit 1", error: EXIT1 }],
];

Deno.test("plain output is BuildKit's: cached step, concurrent steps, failing step, warnings", () => {
  const out = run({ mode: "plain" }, BUILD, [11500, "ERROR"]);
  assert.equal(
    out,
    `#1 ${DOCKERFILE}
#1 transferring dockerfile: 284B done
#1 WARN: ${WARNING}
#1 DONE 0.0s

#2 ${FROM}
#2 CACHED

#3 [a 2/2] RUN make-a
#3 0.100 a1
#3 10.30 a2
#3 ...

#4 [b 2/2] RUN make-b
#4 0.190 b1
#4 ...

#3 [a 2/2] RUN make-a
#3 10.35 a3
#3 ...

#4 [b 2/2] RUN make-b
#4 DONE 10.4s

#3 [a 2/2] RUN make-a
#3 DONE 10.8s

#5 [final 2/2] RUN exit 1
#5 0.250 boom
#5 ERROR: ${EXIT1}
------
 > [final 2/2] RUN exit 1:
0.250 boom
------

 1 warning found:
 - ${WARNING}
`,
  );
});

Deno.test("plain output holds a concurrent step's output back until the current step finishes", () => {
  const out = run({ mode: "plain" }, [
    [0, { type: "vertex.started", vertex: "a", name: "[a 1/1] RUN a" }],
    [10, { type: "vertex.started", vertex: "b", name: "[b 1/1] RUN b" }],
    [100, log("a", "a-1\n")],
    [150, log("b", "b-1\n")],
    [200, log("a", "a-2\n")],
    [250, log("b", "b-2\n")],
    [1200, { type: "vertex.done", vertex: "a", name: "[a 1/1] RUN a" }],
    [2300, { type: "vertex.done", vertex: "b", name: "[b 1/1] RUN b" }],
  ], [2400, "FINISHED"]);
  assert.equal(
    out,
    `#1 [a 1/1] RUN a
#1 0.100 a-1
#1 0.200 a-2
#1 DONE 1.2s

#2 [b 1/1] RUN b
#2 0.140 b-1
#2 0.240 b-2
#2 DONE 2.3s
`,
  );
});

Deno.test("plain output joins partial lines and split UTF-8 characters, and shows byte progress", () => {
  const euro = enc.encode("€"); // 3 bytes, split across two chunks
  const out = run({ mode: "plain" }, [
    [1000, { type: "vertex.started", vertex: "p", name: "[1/1] FROM docker.io/library/alpine" }],
    [1100, {
      type: "status",
      vertex: "p",
      id: "sha256:abc",
      name: "",
      current: 0,
      total: 2_100_000,
    }],
    [1200, {
      type: "status",
      vertex: "p",
      id: "sha256:abc",
      name: "",
      current: 50_000,
      total: 2_100_000,
    }],
    [1400, {
      type: "status",
      vertex: "p",
      id: "sha256:abc",
      name: "",
      current: 1_050_000,
      total: 2_100_000,
    }],
    [1500, {
      type: "log",
      vertex: "p",
      stream: 1,
      data: new Uint8Array([...enc.encode("price: 5"), euro[0]]),
    }],
    [1600, { type: "log", vertex: "p", stream: 1, data: new Uint8Array([euro[1], euro[2], 10]) }],
    [2300, { type: "vertex.done", vertex: "p", name: "[1/1] FROM docker.io/library/alpine" }],
  ], [2400, "FINISHED"]);
  assert.equal(
    out,
    `#1 [1/1] FROM docker.io/library/alpine
#1 sha256:abc 0B / 2.10MB
#1 sha256:abc 1.05MB / 2.10MB 0.3s
#1 0.500 price: 5€
#1 sha256:abc 1.05MB / 2.10MB 1.2s done
#1 DONE 1.3s
`,
  );
});

Deno.test("plain output marks steps still running as canceled when the build is canceled", () => {
  const out = run({ mode: "plain" }, [
    [0, { type: "vertex.started", vertex: "s", name: "[1/2] RUN sleep 60" }],
    [500, log("s", "zzz")],
  ], [900, "CANCELED"]);
  assert.equal(out, "#1 [1/2] RUN sleep 60\n#1 0.500 zzz\n#1 CANCELED\n");
});

const TTY = { mode: "tty", columns: 80, rows: 30, color: true } as const;

Deno.test("TTY final frame: header with (n/n) FINISHED, a line per step, CACHED marks, times at the right", () => {
  const out = run(TTY, [
    [0, { type: "vertex.started", vertex: "v1", name: DOCKERFILE }],
    [30, {
      type: "status",
      vertex: "v1",
      id: "transferring dockerfile:",
      name: "",
      current: 284,
      completed: 30,
    }],
    [40, { type: "vertex.done", vertex: "v1", name: DOCKERFILE }],
    [100, { type: "vertex.cached", vertex: "v2", name: FROM }],
    [200, { type: "vertex.started", vertex: "v3", name: "[build 2/2] RUN make" }],
    [700, log("v3", "cc -o app main.c\n")],
    [1450, { type: "vertex.done", vertex: "v3", name: "[build 2/2] RUN make" }],
  ], [1500, "FINISHED"]);
  const last = frames(out).at(-1)!;
  assert.deepEqual(screen(out), last, "the terminal shows exactly the final frame");
  assert.deepEqual(last, [
    "[+] Building 1.5s (3/3) FINISHED",
    " => [internal] load build definition from Dockerfile                       0.0s",
    " => => transferring dockerfile: 284B                                       0.0s",
    " => CACHED [base 1/1] FROM docker.io/library/busybox:latest                0.0s",
    " => [build 2/2] RUN make                                                   1.2s",
  ]);
  // Times end one column before the right edge, as buildx draws them.
  for (const line of last.slice(1)) assert.equal(line.length, 79);
  // Finished steps are drawn in blue, and nothing follows the frame on success.
  assert.ok(out.includes(`\x1b[34m${last[4]}\x1b[0m`), "finished steps in blue");
  assert.equal(afterFrames(out), "");
});

Deno.test("TTY shows the last 6 output lines of a running step under it, and repaints in place", () => {
  const script: [number, EventWithoutTime][] = [
    [0, { type: "vertex.started", vertex: "r", name: "[2/2] RUN ./build.sh" }],
  ];
  for (let i = 1; i <= 8; i++) script.push([i * 100, log("r", `line ${i}\n`)]);
  script.push([850, log("r", "progress 10%\rprogress 90%")]);
  script.push([900, log("r", "\n")]);
  let clock = 0;
  let out = "";
  const display = createProgressDisplay({ ...TTY, out: (s) => out += s, now: () => clock });
  for (const [time, event] of script) {
    clock = time;
    display.listener({ ...event, time } as ProgressEvent);
  }
  const live = frames(out).at(-1)!;
  assert.deepEqual(live, [
    "[+] Building 0.9s (0/1)",
    " => [2/2] RUN ./build.sh                                                   0.9s",
    " => => # line 4",
    " => => # line 5",
    " => => # line 6",
    " => => # line 7",
    " => => # line 8",
    " => => # progress 90%",
  ]);
  // Each repaint overwrites the previous frame: the terminal shows one frame, not a scroll of them.
  assert.deepEqual(screen(out), live);
  assert.ok(frames(out).length >= 9, "repainted as output arrived");
  clock = 1000;
  display.listener({ type: "vertex.done", vertex: "r", name: "[2/2] RUN ./build.sh", time: 1000 });
  display.done("FINISHED");
  // The shorter final frame leaves nothing of the longer live one below it.
  assert.deepEqual(screen(out), [
    "[+] Building 1.0s (1/1) FINISHED",
    " => [2/2] RUN ./build.sh                                                   1.0s",
  ]);
});

Deno.test("TTY repaints at most every 100 ms however many events arrive", () => {
  const script: [number, EventWithoutTime][] = [
    [0, { type: "vertex.started", vertex: "r", name: "[1/1] RUN yes | head -n 50" }],
  ];
  // 50 events over 490 ms.
  for (let i = 1; i < 50; i++) script.push([i * 10, log("r", `y\n`)]);
  const out = run(TTY, script, [495, "CANCELED"]);
  const painted = frames(out);
  // Paints at 0, 100, 200, 300 and 400 ms, then the final one.
  assert.equal(painted.length, 6);
  assert.deepEqual(painted.map((f) => f[0]), [
    "[+] Building 0.0s (0/1)",
    "[+] Building 0.1s (0/1)",
    "[+] Building 0.2s (0/1)",
    "[+] Building 0.3s (0/1)",
    "[+] Building 0.4s (0/1)",
    "[+] Building 0.5s (1/1) FINISHED",
  ]);
  assert.equal(
    painted[5][1],
    " => CANCELED [1/1] RUN yes | head -n 50                                    0.5s",
  );
});

Deno.test("TTY prints the full output of a failed step after the display, then the warnings", () => {
  const script: [number, EventWithoutTime][] = [
    [0, { type: "vertex.started", vertex: "d", name: DOCKERFILE }],
    [5, { type: "warning", vertex: "d", message: WARNING }],
    [10, { type: "vertex.done", vertex: "d", name: DOCKERFILE }],
    [100, { type: "vertex.started", vertex: "f", name: "[2/3] RUN ./test.sh" }],
  ];
  for (let i = 1; i <= 12; i++) script.push([100 + i * 100, log("f", `test ${i} failed\n`, 2)]);
  script.push([1400, {
    type: "vertex.errored",
    vertex: "f",
    name: "[2/3] RUN ./test.sh",
    error: EXIT1,
  }]);
  const out = run(TTY, script, [1500, "ERROR"]);
  assert.deepEqual(frames(out).at(-1), [
    "[+] Building 1.5s (2/2) FINISHED",
    " => [internal] load build definition from Dockerfile                       0.0s",
    " => WARN: JSONArgsRecommended: JSON arguments recommended for CMD to prev  0.0s",
    " => ERROR [2/3] RUN ./test.sh                                              1.3s",
  ]);
  const lines = Array.from(
    { length: 12 },
    (_, i) => `${((i + 1) / 10).toFixed(3)} test ${i + 1} failed\n`,
  );
  assert.equal(
    afterFrames(out),
    "------\n > [2/3] RUN ./test.sh:\n" + lines.join("") + "------\n" +
      `\n \x1b[33m1 warning found:\n\x1b[0m - ${WARNING}\n`,
  );
  assert.deepEqual(screen(out), [
    ...frames(out).at(-1)!,
    "------",
    " > [2/3] RUN ./test.sh:",
    ...lines.map((l) => l.trimEnd()),
    "------",
    "",
    " 1 warning found:",
    ` - ${WARNING}`,
  ]);
  // In red.
  assert.ok(out.includes(`\x1b[31m${frames(out).at(-1)![3]}\x1b[0m`), "the failed step in red");
});

Deno.test("auto mode picks the TTY display only on a terminal; --progress values parse as docker's", () => {
  const plain = createProgressDisplay({ mode: "auto", isTerminal: false, out: () => {} });
  const tty = createProgressDisplay({ mode: "auto", isTerminal: true, out: () => {} });
  assert.equal(plain.mode, "plain");
  assert.equal(tty.mode, "tty");
  assert.equal(parseProgressMode(undefined), "auto");
  assert.equal(parseProgressMode("tty"), "tty");
  assert.equal(parseProgressMode("tty", true), "plain");
  assert.throws(
    () => parseProgressMode("fancy"),
    /Invalid progress mode "fancy": use auto, plain, tty, quiet or rawjson/,
  );
  assert.equal(parseProgressMode("quiet"), "quiet");
  assert.equal(parseProgressMode("rawjson"), "rawjson");
});

Deno.test("--progress=rawjson writes one JSON object per event; quiet writes nothing", () => {
  const raw = run({ mode: "rawjson" }, BUILD, [11500, "FINISHED"]);
  const lines = raw.trimEnd().split("\n");
  assert.equal(lines.length, BUILD.length);
  const events = lines.map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => e.type), BUILD.map(([, e]) => e.type));
  assert.equal(events[0].vertex, "v1");
  assert.equal(typeof events[0].time, "number");
  assert.equal(run({ mode: "quiet" }, BUILD, [11500, "ERROR"]), "");
});

Deno.test("numbers are formatted as Go formats them (round half to even on exact ties)", () => {
  assert.equal(goFixed(1.25, 1), "1.2");
  assert.equal(goFixed(1.35, 1), "1.4"); // 1.35 is really 1.350000000000000088817841970012523
  assert.equal(goFixed(0.125, 2), "0.12");
  assert.equal(goFixed(10.39, 1), "10.4");
  assert.equal(formatBytes(999), "999B");
  assert.equal(formatBytes(1125), "1.12kB");
  assert.equal(formatBytes(3_440), "3.44kB");
  assert.equal(formatBytes(27_460_000), "27.46MB");
});

Deno.test("TTY repaints a running step's clock between events; ticker: false does not", async () => {
  for (const ticker of [true, false]) {
    let clock = 0;
    let out = "";
    const display = createProgressDisplay({
      ...TTY,
      out: (s) => out += s,
      now: () => clock,
      ticker,
    });
    display.listener({ type: "vertex.started", vertex: "r", name: "[1/1] RUN sleep 1", time: 0 });
    clock = 1200;
    await new Promise((r) => setTimeout(r, 400)); // two ticks and more
    const painted = frames(out).map((f) => f[0]);
    display.done("FINISHED");
    assert.deepEqual(
      painted,
      ticker ? ["[+] Building 0.0s (0/1)", "[+] Building 1.2s (0/1)"] : ["[+] Building 0.0s (0/1)"],
      `ticker: ${ticker}`,
    );
  }
});
