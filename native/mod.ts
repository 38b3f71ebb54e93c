// The FFI boundary: the only TypeScript that knows the shim is C. Everything
// it hands out is numbers and typed arrays; nothing past this file says
// "pointer". Each isolate (main, every Worker) calls open_native() once; the
// shared library is loaded once per process, so all isolates see the same
// EAL, mempool, ports and rings.

const LIBRARY = new URL("./build/libbaton_shim.so", import.meta.url);

/** Words per packet in a slot's descriptor table: offset, length, action, spare. */
export const DESC_WORDS = 4;
/** Action word meaning "free this packet". */
export const DROP = -1;
/** Largest burst a slot holds (testpmd's MAX_PKT_BURST). */
export const MAX_BURST = 512;
/** Pipelines (slots) one process can run at once. */
export const MAX_SLOTS = 16;
/** HMAC-SHA256 key slots, process-global (baton_hmac.c). */
export const HMAC_KEY_SLOTS = 256;
/** Bytes of an HMAC-SHA256 tag. */
export const HMAC_TAG_BYTES = 32;

const SYMBOLS = {
  bt_last_error: { parameters: ["buffer", "u32"], result: "i32" },
  bt_eal_init: { parameters: ["buffer", "i32"], result: "i32" },
  bt_eal_cleanup: { parameters: [], result: "i32" },
  bt_lcore_count: { parameters: [], result: "i32" },
  bt_lcore_cpus: { parameters: ["buffer", "u32"], result: "i32" },
  bt_thread_register: { parameters: ["i32"], result: "i32" },
  bt_thread_unregister: { parameters: [], result: "void" },
  bt_pool_create: { parameters: ["u32", "u32"], result: "i32" },
  bt_region_base: { parameters: [], result: "pointer" },
  bt_region_len: { parameters: [], result: "u32" },
  bt_pool_available: { parameters: [], result: "u32" },
  bt_port_count: { parameters: [], result: "i32" },
  bt_port_name: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  bt_port_configure: { parameters: ["u32", "u32", "u32", "u32", "u32", "u32"], result: "i32" },
  bt_port_rx_intr: { parameters: ["u32"], result: "i32" },
  bt_port_start: { parameters: ["u32"], result: "i32" },
  bt_port_stop: { parameters: ["u32"], result: "i32" },
  bt_port_close: { parameters: ["u32"], result: "i32" },
  bt_port_promiscuous: { parameters: ["u32", "u32"], result: "i32" },
  bt_port_mac: { parameters: ["u32", "buffer"], result: "i32" },
  bt_port_link: { parameters: ["u32", "buffer"], result: "i32" },
  bt_port_stats: { parameters: ["u32", "buffer"], result: "i32" },
  bt_port_stats_reset: { parameters: ["u32"], result: "i32" },
  bt_slot_desc: { parameters: ["u32"], result: "pointer" },
  bt_rx_burst: { parameters: ["u32", "u32", "u32", "u32"], result: "u32" },
  bt_tx_burst: { parameters: ["u32", "u32", "u32"], result: "u32" },
  bt_free_burst: { parameters: ["u32", "u32"], result: "void" },
  bt_alloc: { parameters: ["u32", "u32", "u32"], result: "i32" },
  bt_ring_create: { parameters: ["buffer", "u32"], result: "i32" },
  bt_ring_enqueue: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  bt_ring_dequeue: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  bt_ring_count: { parameters: ["u32"], result: "u32" },
  bt_pool_fill: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  bt_shim_counters: { parameters: ["buffer", "u32"], result: "i32" },
  bt_idle_begin: { parameters: ["u32"], result: "i32" },
  bt_idle_watch_queue: { parameters: ["u32", "u32"], result: "i32" },
  bt_idle_arm: { parameters: [], result: "i32" },
  bt_idle_disarm: { parameters: [], result: "void" },
  bt_idle_wait: { parameters: ["u32"], result: "i32" },
  bt_idle_end: { parameters: [], result: "void" },
  bt_idle_counters: { parameters: ["buffer", "u32"], result: "i32" },
  bt_hmac_key_set: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  bt_hmac_region: { parameters: ["u32", "u32", "u32", "u32"], result: "i32" },
  bt_hmac_verify_region: { parameters: ["u32", "u32", "u32", "u32"], result: "i32" },
  bt_hmac_buffer: { parameters: ["u32", "buffer", "u32", "buffer"], result: "i32" },
} as const;

type Library = Deno.DynamicLibrary<typeof SYMBOLS>;

/** Port counters, as testpmd shows them. */
export interface PortStats {
  rx_packets: number;
  tx_packets: number;
  rx_bytes: number;
  tx_bytes: number;
  rx_missed: number;
  rx_errors: number;
  tx_errors: number;
  rx_nombuf: number;
}

export interface PortQueues {
  rxq: number;
  txq: number;
  rxd: number;
  txd: number;
}

/** What ended an idle wait (idle_wait): its timeout. */
export const WOKE_TIMEOUT = 0;
/** What ended an idle wait: an rx interrupt on a watched queue. */
export const WOKE_RX_INTERRUPT = 1;

/** What the idle waits of every thread did (counted in the shim, for the whole process). */
export interface IdleCounters {
  waits: number;
  woken_by_rx_interrupt: number;
  timed_out: number;
}

/** What an isolate uses of DPDK. Hot calls are the FFI functions themselves. */
export interface Native {
  /** Receives up to max frames on (port, queue) into a slot; returns how many. */
  rx_burst: (port: number, queue: number, slot: number, max: number) => number;
  /** Sends frames [0, n) of a slot, each to the port in its action word. */
  tx_burst: (queue: number, slot: number, n: number) => number;
  /** Frees frames [0, n) of a slot. */
  free_burst: (slot: number, n: number) => void;
  /** Allocates a frame of len bytes at slot index; its region offset, or -1. */
  alloc: (slot: number, index: number, len: number) => number;
  /** Every packet's bytes, addressed by the offsets in the descriptors. */
  region(): Uint8Array;
  /** A slot's descriptor table: DESC_WORDS int32 per frame. */
  slot_descriptors(slot: number): Int32Array;
  eal_init(args: string[]): number;
  eal_cleanup(): void;
  lcore_cpus(): number[];
  thread_register(cpu: number): number;
  thread_unregister(): void;
  pool_create(nb_mbufs: number, data_room: number): void;
  pool_available(): number;
  port_count(): number;
  port_name(port: number): string;
  /** rx_interrupts: try rx queue interrupts (intr_conf.rxq), falling back without when refused. */
  port_configure(port: number, queues: PortQueues, options?: { rx_interrupts?: boolean }): void;
  port_start(port: number): void;
  /** Whether the started port raises rx interrupts on every rx queue. */
  port_rx_interrupts(port: number): boolean;
  port_stop(port: number): void;
  port_close(port: number): void;
  port_promiscuous(port: number, on: boolean): void;
  port_mac(port: number): Uint8Array;
  port_link(port: number): { up: boolean; speed_mbps: number; full_duplex: boolean };
  port_stats(port: number): PortStats;
  port_stats_reset(port: number): void;
  ring_create(name: string, size: number): number;
  ring_enqueue(ring: number, message: Uint8Array): boolean;
  /** The next message's length copied into buffer; -1 when empty. */
  ring_dequeue(ring: number, buffer: Uint8Array): number;
  ring_count(ring: number): number;
  /**
   * Makes the calling thread (a poll loop) a waiter (and sets its timer
   * slack); then idle_watch_queue for every rx queue it polls. Per idle
   * period: idle_arm, one more poll, then idle_wait, or idle_disarm if that
   * poll found work. idle_end when the loop ends.
   */
  idle_begin(options: { timer_slack_ns: number }): void;
  /** Watches an rx queue this thread polls; true when it raises rx interrupts. */
  idle_watch_queue(port: number, queue: number): boolean;
  /** Turns rx interrupts on; 1 when waits are on them (every watched queue has them), else 0. */
  idle_arm: () => number;
  idle_disarm: () => void;
  /**
   * Blocks until an rx interrupt or timeout_us (whole ms with interrupts); WOKE_RX_INTERRUPT
   * or WOKE_TIMEOUT. Without interrupts a plain sleep.
   */
  idle_wait: (timeout_us: number) => number;
  idle_end(): void;
  idle_counters(): IdleCounters;
  /** Writes these equal-length frames round-robin into every free mbuf (net_null as a generator). */
  pool_fill(frames: Uint8Array[]): number;
  /** What the hot calls refused instead of trusting their arguments (counted in the shim). */
  shim_counters(): ShimCounters;
  /** Sets the HMAC-SHA256 key of a slot (0 .. HMAC_KEY_SLOTS - 1; any key length), for every
   * isolate of the process. Setup time only, before poll loops use the slot; throws
   * NativeError on a bad slot. */
  hmac_key_set(slot: number, key: Uint8Array): void;
  /** Writes the HMAC_TAG_BYTES tag of region bytes [offset, offset + len) at region[tag_offset];
   * 0, or -1 (nothing written) when the slot has no key or a range is outside the region.
   * Every argument is a u32 (Deno throws a TypeError for a negative or fractional one). */
  hmac_region: (slot: number, offset: number, len: number, tag_offset: number) => number;
  /** 1 when region[tag_offset] holds the tag of region bytes [offset, offset + len) (constant-time
   * compare), 0 when not, -1 when the slot has no key or a range is outside the region. */
  hmac_verify_region: (slot: number, offset: number, len: number, tag_offset: number) => number;
  /** Writes the tag of data into tag_out (HMAC_TAG_BYTES or more); 0, or -1 when the slot has no
   * key or tag_out is too short. Needs no EAL: tests, tools, slow paths. */
  hmac_buffer(slot: number, data: Uint8Array, tag_out: Uint8Array): number;
}

export interface ShimCounters {
  /** A slot index out of range. */
  bad_slot: number;
  /** A burst count beyond the frames the slot holds, or an alloc past the next position. */
  beyond_held: number;
  /** A length word outside 14 .. the mbuf's room: that frame was dropped. */
  bad_length: number;
  /** An action word that is neither DROP nor a port: that frame was dropped. */
  bad_port: number;
}

/** An error from DPDK, with the shim's last message. */
export class NativeError extends Error {
  constructor(what: string, readonly code: number, detail: string) {
    super(`${what}: ${detail || `error ${code}`}`);
    this.name = "NativeError";
  }
}

let opened: Native | undefined;

/** Loads the shim (once per isolate) and returns its API. */
export function open_native(): Native {
  if (opened) return opened;
  let lib: Library;
  try {
    lib = Deno.dlopen(LIBRARY, SYMBOLS);
  } catch (err) {
    throw new Error(
      `baton: cannot load the native shim ${LIBRARY.pathname} (${
        (err as Error).message
      }); build it with 'deno task build'`,
    );
  }
  opened = wrap(lib);
  return opened;
}

function wrap(lib: Library): Native {
  const s = lib.symbols;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const text = new Uint8Array(256);

  function last_error(): string {
    const n = s.bt_last_error(text, text.length);
    return decoder.decode(text.subarray(0, Math.max(0, n)));
  }
  function check(what: string, code: number): number {
    if (code < 0) throw new NativeError(what, code, last_error());
    return code;
  }
  function cstring(value: string): Uint8Array {
    return encoder.encode(value + "\0");
  }

  let region_view: Uint8Array | undefined;
  const descriptor_views = new Map<number, Int32Array>();

  return {
    rx_burst: s.bt_rx_burst,
    tx_burst: s.bt_tx_burst,
    free_burst: s.bt_free_burst,
    alloc: s.bt_alloc,
    region() {
      if (region_view) return region_view;
      const base = s.bt_region_base();
      const len = s.bt_region_len();
      if (base === null || len === 0) throw new Error("baton: no mbuf pool yet");
      region_view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(base, len));
      return region_view;
    },
    slot_descriptors(slot) {
      let view = descriptor_views.get(slot);
      if (!view) {
        const base = s.bt_slot_desc(slot);
        if (base === null) throw new Error(`baton: no slot ${slot} (max ${MAX_SLOTS})`);
        view = new Int32Array(
          Deno.UnsafePointerView.getArrayBuffer(base, MAX_BURST * DESC_WORDS * 4),
        );
        descriptor_views.set(slot, view);
      }
      return view;
    },
    eal_init(args) {
      const joined = encoder.encode(args.map((a) => a + "\0").join(""));
      return check("EAL", s.bt_eal_init(joined, args.length));
    },
    eal_cleanup() {
      region_view = undefined;
      descriptor_views.clear();
      s.bt_eal_cleanup();
    },
    lcore_cpus() {
      const out = new Int32Array(256);
      const n = s.bt_lcore_cpus(out, out.length);
      return Array.from(out.subarray(0, n));
    },
    thread_register: (cpu) => check("thread register", s.bt_thread_register(cpu)),
    thread_unregister: () => s.bt_thread_unregister(),
    pool_create(nb_mbufs, data_room) {
      check("mbuf pool", s.bt_pool_create(nb_mbufs, data_room));
    },
    pool_available: () => s.bt_pool_available(),
    port_count: () => s.bt_port_count(),
    port_name(port) {
      const n = check(`port ${port}`, s.bt_port_name(port, text, text.length));
      return decoder.decode(text.subarray(0, n));
    },
    port_configure(port, q, options) {
      const rx_interrupts = options?.rx_interrupts ? 1 : 0;
      check(
        `port ${port} configure`,
        s.bt_port_configure(port, q.rxq, q.txq, q.rxd, q.txd, rx_interrupts),
      );
    },
    port_start(port) {
      check(`port ${port} start`, s.bt_port_start(port));
    },
    port_rx_interrupts: (port) => check(`port ${port}`, s.bt_port_rx_intr(port)) === 1,
    port_stop(port) {
      s.bt_port_stop(port);
    },
    port_close(port) {
      s.bt_port_close(port);
    },
    port_promiscuous(port, on) {
      // Not every PMD supports it (net_null, net_ring): not an error.
      s.bt_port_promiscuous(port, on ? 1 : 0);
    },
    port_mac(port) {
      const mac = new Uint8Array(6);
      check(`port ${port} MAC`, s.bt_port_mac(port, mac));
      return mac;
    },
    port_link(port) {
      const out = new Int32Array(3);
      check(`port ${port} link`, s.bt_port_link(port, out));
      return { up: out[0] === 1, speed_mbps: out[1], full_duplex: out[2] === 1 };
    },
    port_stats(port) {
      const out = new Float64Array(8);
      check(`port ${port} stats`, s.bt_port_stats(port, out));
      return {
        rx_packets: out[0],
        tx_packets: out[1],
        rx_bytes: out[2],
        tx_bytes: out[3],
        rx_missed: out[4],
        rx_errors: out[5],
        tx_errors: out[6],
        rx_nombuf: out[7],
      };
    },
    port_stats_reset(port) {
      s.bt_port_stats_reset(port);
    },
    ring_create: (name, size) => check(`ring ${name}`, s.bt_ring_create(cstring(name), size)),
    ring_enqueue: (ring, message) => s.bt_ring_enqueue(ring, message, message.length) === 0,
    ring_dequeue: (ring, buffer) => s.bt_ring_dequeue(ring, buffer, buffer.length),
    ring_count: (ring) => s.bt_ring_count(ring),
    idle_begin(options) {
      check("idle", s.bt_idle_begin(options.timer_slack_ns));
    },
    idle_watch_queue: (port, queue) =>
      check(`idle port ${port} queue ${queue}`, s.bt_idle_watch_queue(port, queue)) === 1,
    idle_arm: s.bt_idle_arm,
    idle_disarm: s.bt_idle_disarm,
    idle_wait: s.bt_idle_wait,
    idle_end: () => s.bt_idle_end(),
    idle_counters() {
      const out = new Float64Array(3);
      s.bt_idle_counters(out, out.length);
      return { waits: out[0], woken_by_rx_interrupt: out[1], timed_out: out[2] };
    },
    shim_counters() {
      const out = new Float64Array(4);
      s.bt_shim_counters(out, out.length);
      return { bad_slot: out[0], beyond_held: out[1], bad_length: out[2], bad_port: out[3] };
    },
    pool_fill(frames) {
      const frame_len = frames[0]?.length ?? 0;
      const packed = new Uint8Array(frame_len * frames.length);
      frames.forEach((frame, i) => {
        if (frame.length !== frame_len) throw new Error("baton: pool_fill frames differ in length");
        packed.set(frame, i * frame_len);
      });
      return check("pool fill", s.bt_pool_fill(packed, frame_len, frames.length));
    },
    hmac_key_set(slot, key) {
      // checked here first: for NaN, 1.5 or -1 Deno's u32 conversion throws a TypeError instead
      const in_range = Number.isInteger(slot) && slot >= 0 && slot < HMAC_KEY_SLOTS;
      if (!in_range || s.bt_hmac_key_set(slot, key, key.length) !== 0) {
        throw new NativeError("hmac key", -1, `no key slot ${slot} (0..${HMAC_KEY_SLOTS - 1})`);
      }
    },
    hmac_region: s.bt_hmac_region,
    hmac_verify_region: s.bt_hmac_verify_region,
    hmac_buffer(slot, data, tag_out) {
      if (tag_out.length < HMAC_TAG_BYTES) return -1;
      return s.bt_hmac_buffer(slot, data, data.length, tag_out);
    },
  };
}
