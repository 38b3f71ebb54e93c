// The counters every forwarding pipeline keeps, as word offsets into its
// block of the shared Float64Array (the main isolate reads them for the
// statistics). An engine with more counters (translate) puts its own after
// these COUNTER_WORDS.

/** Counter words per pipeline, in a shared Float64Array. */
export const COUNTER_RX = 0;
export const COUNTER_TX = 1;
export const COUNTER_DROPPED = 2;
export const COUNTER_RUNT = 3;
export const COUNTER_NOT_TCP = 4;
export const COUNTER_BURSTS = 5;
export const COUNTER_IDLE_SLEEPS = 6;
export const COUNTER_WORDS = 8;
