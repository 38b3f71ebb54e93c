// The forwarding engines' registry (testpmd's fwd_engines[]): the one place
// that lists the --forward-mode names, their counters and their burst
// functions. One file per engine; adding one means a file and a line here.

import type { ForwardEngine } from "./engine.ts";
import { io_engine } from "./io.ts";
import { mac_engine } from "./mac.ts";
import { macswap_engine } from "./macswap.ts";
import { rewrite_engine } from "./rewrite.ts";
import { translate_engine } from "./translate.ts";

export const FORWARD_ENGINES = [
  io_engine,
  mac_engine,
  macswap_engine,
  rewrite_engine,
  translate_engine,
] as const satisfies readonly ForwardEngine[];

/** The --forward-mode names, from the registry. */
export type ForwardMode = typeof FORWARD_ENGINES[number]["name"];
export const FORWARD_MODES: readonly ForwardMode[] = FORWARD_ENGINES.map((engine) => engine.name);

/** The engine for --forward-mode=mode. */
export function forward_engine(mode: ForwardMode): ForwardEngine {
  return FORWARD_ENGINES.find((engine) => engine.name === mode)!;
}

export * from "./counters.ts";
export type { ForwardEngine, ForwardPipeline } from "./engine.ts";
export { io_burst } from "./io.ts";
export { mac_burst } from "./mac.ts";
export { macswap_burst, type MacswapParams } from "./macswap.ts";
export { rewrite_burst, type RewriteParams } from "./rewrite.ts";
