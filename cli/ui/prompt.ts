/**
 * Reading a line, or a secret without echo, from the terminal.
 *
 * @module
 */

async function readTerminalLine(): Promise<string> {
  const buf = new Uint8Array(1);
  const bytes: number[] = [];
  while (true) {
    const n = await Deno.stdin.read(buf);
    if (n === null || buf[0] === 0x0a || buf[0] === 0x0d) break;
    if (buf[0] === 0x03) throw new Error("Interrupted");
    if (buf[0] === 0x7f) bytes.pop();
    else bytes.push(buf[0]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Prompts on stderr and reads a line from the terminal. */
export async function readLine(prompt: string): Promise<string> {
  await Deno.stderr.write(new TextEncoder().encode(prompt));
  Deno.stdin.setRaw(true);
  try {
    const line = await readTerminalLine();
    await Deno.stderr.write(new TextEncoder().encode(`${line}\n`));
    return line.trim();
  } finally {
    Deno.stdin.setRaw(false);
  }
}

/** Prompts on stderr and reads a line from the terminal without echoing it. */
export async function readSecret(prompt: string): Promise<string> {
  await Deno.stderr.write(new TextEncoder().encode(prompt));
  Deno.stdin.setRaw(true);
  try {
    return await readTerminalLine();
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(new TextEncoder().encode("\n"));
  }
}
