// baton's JSON configuration: validated up front, every error naming the
// field and what is wrong with it. Sizes and timeouts have defaults a
// production network engineer would expect; addresses and keys do not.

import { parse_key_text } from "./handoff.ts";

/** A configuration error: the message starts with the field's path. */
export class ConfigError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "ConfigError";
  }
}

export interface UdpAddress {
  host: string;
  port: number;
}

export interface AgentSection {
  /** Where the agent's control Worker listens for hand-off datagrams. */
  control: UdpAddress;
  /** The server stack's MAC (frames for handed-off flows are sent to it). */
  server_mac: Uint8Array;
  /** DPDK port ids: the fabric side and the server side of the bump in the wire. */
  fabric_port: number;
  server_port: number;
  /** Flow table slots (power of two). */
  flows: number;
  rto_ms: number;
  adopt_timeout_ms: number;
  linger_ms: number;
  idle_timeout_ms: number;
}

export interface BatonConfig {
  /** Shared hand-off key, from key_file (hex). */
  key: Uint8Array;
  key_file: string;
  /** Fabric MTU: by default one hand-off datagram fits one frame of it. */
  fabric_mtu: number;
  /** Largest hand-off datagram (UDP payload); default fabric_mtu − 28. */
  max_datagram: number;
  agent?: AgentSection;
}

type Json = Record<string, unknown>;

/** Reads and validates a config file (key_file is relative to it). */
export async function load_config(path: string, options: { role: "agent" | "director" }) {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError("config", `cannot read ${path}: ${(err as Error).message}`);
  }
  const base = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "./";
  return await parse_config(text, { role: options.role, base_dir: base });
}

export async function parse_config(
  text: string,
  options: {
    role: "agent" | "director";
    base_dir: string;
    read_file?: (p: string) => Promise<string>;
  },
): Promise<BatonConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError("config", `not valid JSON (${(err as Error).message})`);
  }
  const root = object(raw, "config");
  known_fields(root, "config", ["key_file", "fabric_mtu", "max_datagram", "agent", "director"]);
  const key_file = string(root.key_file, "key_file");
  const key_path = key_file.startsWith("/") ? key_file : options.base_dir + key_file;
  const read = options.read_file ?? ((p: string) => Deno.readTextFile(p));
  let key_text: string;
  try {
    key_text = await read(key_path);
  } catch (err) {
    throw new ConfigError("key_file", `cannot read ${key_path}: ${(err as Error).message}`);
  }
  const key = parse_key(key_text.trim(), "key_file");
  const fabric_mtu = integer(root.fabric_mtu ?? 1500, "fabric_mtu", 576, 9216);
  const max_datagram = integer(
    root.max_datagram ?? fabric_mtu - 28,
    "max_datagram",
    256,
    65507,
  );
  const config: BatonConfig = { key, key_file: key_path, fabric_mtu, max_datagram };
  if (options.role === "agent") {
    if (root.agent === undefined) {
      throw new ConfigError("agent", "missing (needed for --role=agent)");
    }
    config.agent = agent_section(object(root.agent, "agent"));
  }
  return config;
}

function agent_section(agent: Json): AgentSection {
  known_fields(agent, "agent", [
    "control",
    "server_mac",
    "fabric_port",
    "server_port",
    "flows",
    "timeouts",
  ]);
  const timeouts = object(agent.timeouts ?? {}, "agent.timeouts");
  known_fields(timeouts, "agent.timeouts", ["rto_ms", "adopt_ms", "linger_ms", "idle_s"]);
  const fabric_port = integer(agent.fabric_port ?? 0, "agent.fabric_port", 0, 31);
  const server_port = integer(agent.server_port ?? 1, "agent.server_port", 0, 31);
  if (fabric_port === server_port) {
    throw new ConfigError("agent.server_port", "must differ from agent.fabric_port");
  }
  const flows = integer(agent.flows ?? 65536, "agent.flows", 16, 1 << 24);
  if ((flows & (flows - 1)) !== 0) {
    throw new ConfigError("agent.flows", `${flows} is not a power of two`);
  }
  return {
    control: udp_address(agent.control, "agent.control"),
    server_mac: mac(agent.server_mac, "agent.server_mac"),
    fabric_port,
    server_port,
    flows,
    rto_ms: integer(timeouts.rto_ms ?? 200, "agent.timeouts.rto_ms", 10, 10_000),
    adopt_timeout_ms: integer(timeouts.adopt_ms ?? 3000, "agent.timeouts.adopt_ms", 50, 60_000),
    linger_ms: integer(timeouts.linger_ms ?? 2000, "agent.timeouts.linger_ms", 0, 600_000),
    idle_timeout_ms: integer(timeouts.idle_s ?? 300, "agent.timeouts.idle_s", 1, 86_400) * 1000,
  };
}

// ------------------------------------------------------------- field checks

function object(value: unknown, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(field, `must be an object, got ${describe(value)}`);
  }
  return value as Json;
}

function known_fields(value: Json, field: string, allowed: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        `${field}.${key}`,
        `unknown field (expected one of ${allowed.join(", ")})`,
      );
    }
  }
}

function string(value: unknown, field: string): string {
  if (value === undefined) throw new ConfigError(field, "missing");
  if (typeof value !== "string" || value.length === 0) {
    throw new ConfigError(field, `must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new ConfigError(field, `must be a whole number, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new ConfigError(field, `${value} is out of range (${min}..${max})`);
  }
  return value;
}

export function parse_ipv4(text: string, field: string): string {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new ConfigError(field, `'${text}' is not an IPv4 address`);
  }
  return text;
}

function udp_address(value: unknown, field: string): UdpAddress {
  const text = string(value, field);
  const colon = text.lastIndexOf(":");
  if (colon < 0) throw new ConfigError(field, `'${text}' must be HOST:PORT`);
  const host = parse_ipv4(text.slice(0, colon), field);
  const port_text = text.slice(colon + 1);
  if (!/^\d+$/.test(port_text) || Number(port_text) < 1 || Number(port_text) > 65535) {
    throw new ConfigError(field, `'${port_text}' is not a UDP port (1..65535)`);
  }
  return { host, port: Number(port_text) };
}

function mac(value: unknown, field: string): Uint8Array {
  const text = string(value, field);
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new ConfigError(field, `'${text}' is not a MAC address (XX:XX:XX:XX:XX:XX)`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function parse_key(text: string, field: string): Uint8Array {
  try {
    return parse_key_text(text);
  } catch (err) {
    throw new ConfigError(field, (err as Error).message);
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `'${value}'`;
  return typeof value === "object" ? "an object" : String(value);
}
