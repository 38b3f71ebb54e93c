// The director's dataplane, on its one fabric port. It owns the VIPs:
// answers ARP and ICMP echo for them, completes TCP handshakes with SYN
// cookies (no state until a valid ACK), reads each connection's HTTP
// request head and ACKs exactly the bytes it carries (the head and what came
// with it), hands the request to its control Worker (which picks the server
// and sends the hand-off), and from then on forwards the client's frames to
// that server with only the Ethernet header rewritten. The response never
// comes back this way. Anything else is counted and dropped; nothing is
// reflected.
//
// The VIPs face the internet (guard.ts, pool.ts): sources no client can
// have are dropped before a handshake; RSTs and SYNs on the connections the
// director terminates follow RFC 5961; a client may close before its
// request; request buffers are taken with the first request bytes, a share
// per client /24; a new connection on a closing 4-tuple gets a fresh
// handshake and hand-off.
//
// Announced TCP options (policy): the director offers back what the client
// offered, because the agent translates all of them: MSS = fabric MTU − 40,
// SACK-permitted, timestamps, and window scale 7 (what Linux servers pick
// for ordinary buffers, so rescaling is rarely needed) — as far as the SYN
// cookie can carry them. With timestamps it carries all of them (window scale
// and SACK-permitted ride in the low bits of the SYN/ACK's TSval, which the
// client echoes in TSecr). Without timestamps there is nowhere stateless to
// keep window scale and SACK-permitted next to a MAC of 25 bits, so a client
// that offers no timestamps gets a SYN/ACK with MSS only: no window scale
// (its receive window, and so what the server can send it per round trip,
// stays under 64 KiB) and no SACK. Linux's SYN cookies lose the same two
// options. syn_cookie.ts says what is carried where and the forgery bound
// (at most 2^-25 per blind ACK).
//
// Replies that answer a frame (ARP, echo, SYN/ACK, ACKs) are written in place
// into that frame's mbuf (burst.ts, handshake.ts, request.ts, segment.ts).
// HTTP error responses and timer-driven frames are built in director_service
// (service.ts, the slow path). state.ts holds the flow words and counters
// they all share, pool.ts the request buffers; runner.ts is one round as
// the dataplane Worker runs it.
//
// This face exports what other folders use: the runner, the counters, the
// burst (for the packet fixtures) and the SYN cookie functions (for tests).
export {
  create_director_runner,
  director_round,
  type DirectorRunner,
  type DirectorSpecLimits,
} from "./runner.ts";
export {
  DIRECTOR_COUNTER_NAMES,
  DIRECTOR_COUNTER_WORDS,
  director_counters,
  DIRECTOR_DROP_REASONS,
} from "./state.ts";
export { director_burst } from "./burst.ts";
export {
  cookie_check,
  cookie_info,
  cookie_info_mss,
  cookie_info_sack,
  cookie_info_ts,
  cookie_info_wscale,
  COOKIE_MAC_BITS,
  COOKIE_MAC_MASK,
  cookie_make,
  COOKIE_MSS_TABLE,
  COOKIE_NO_TSECR,
  cookie_slot,
  COOKIE_SLOT_SECONDS,
  COOKIE_SLOTS,
  cookie_tsval,
  COOKIE_TSVAL_MASK,
  COOKIE_WSCALE_NONE,
  create_cookie_key,
  halfsiphash32,
} from "./syn_cookie.ts";
