// The field checks the configuration is validated with (config.ts), each
// throwing a ConfigError that names the field and what is wrong with it:
// objects and known fields, strings, integers in range, IPv4 addresses (and
// ones a server can hold), HOST:PORT, MAC addresses, key text.

import { parse_key_text } from "../dataplane/wire/mod.ts";
import { ip_to_u32 } from "../dataplane/mod.ts";
import { unusable_address } from "../dataplane/agent/mod.ts";

export type Json = Record<string, unknown>;

/** A configuration error: the message starts with the field's path. */
export class ConfigError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "ConfigError";
  }
}

/** HOST:PORT (UDP for hand-offs, TCP for metrics and health checks). */
export interface UdpAddress {
  host: string;
  port: number;
}

/** HOST or HOST:PORT: where datagrams may come from (any port when none is given). */
export interface SourceAddress {
  host: string;
  port?: number;
}

export function agent_id(value: unknown, field: string): number {
  return integer(value, field, 1, 2 ** 32 - 1);
}

export function non_empty_array(value: unknown, field: string, of: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(field, `must be a non-empty array of ${of} (leave it out for any)`);
  }
  return value;
}

/** An address a server can hold and a client can reach (not 0/8, 127/8, multicast, class E). */
export function unicast_ipv4(value: unknown, field: string): string {
  if (value === undefined) throw new ConfigError(field, "missing");
  const address = parse_ipv4(value, field);
  const problem = unusable_address(ip_to_u32(address));
  if (problem) throw new ConfigError(field, `'${address}' is ${problem}`);
  return address;
}

export function power_of_two(value: unknown, field: string): number {
  const n = integer(value, field, 16, 1 << 24);
  if ((n & (n - 1)) !== 0) throw new ConfigError(field, `${n} is not a power of two`);
  return n;
}

export function object(value: unknown, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(field, `must be an object, got ${describe(value)}`);
  }
  return value as Json;
}

export function known_fields(value: Json, field: string, allowed: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        `${field}.${key}`,
        `unknown field (expected one of ${allowed.join(", ")})`,
      );
    }
  }
}

export function string(value: unknown, field: string): string {
  if (value === undefined) throw new ConfigError(field, "missing");
  if (typeof value !== "string" || value.length === 0) {
    throw new ConfigError(field, `must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

export function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new ConfigError(field, `must be a whole number, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new ConfigError(field, `${value} is out of range (${min}..${max})`);
  }
  return value;
}

export function parse_ipv4(text: unknown, field: string): string {
  if (typeof text !== "string") {
    throw new ConfigError(field, `${describe(text)} is not an IPv4 address`);
  }
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new ConfigError(field, `'${text}' is not an IPv4 address`);
  }
  return text;
}

export function host_and_port(value: unknown, field: string): UdpAddress {
  const text = string(value, field);
  const colon = text.lastIndexOf(":");
  if (colon < 0) throw new ConfigError(field, `'${text}' must be HOST:PORT`);
  const host = parse_ipv4(text.slice(0, colon), field);
  const port_text = text.slice(colon + 1);
  if (!/^\d+$/.test(port_text) || Number(port_text) < 1 || Number(port_text) > 65535) {
    throw new ConfigError(field, `'${port_text}' is not a port (1..65535)`);
  }
  return { host, port: Number(port_text) };
}

/** HOST or HOST:PORT (a server's agent on the fabric; the hand-off port when none is given). */
export function agent_address(value: unknown, field: string, handoff_port: number): UdpAddress {
  const text = string(value, field);
  if (!text.includes(":")) return { host: unicast_ipv4(text, field), port: handoff_port };
  const address = host_and_port(text, field);
  unicast_ipv4(address.host, field);
  return address;
}

/** HOST or HOST:PORT (a director's fabric address, or any port of that host). */
export function source_address(value: unknown, field: string): SourceAddress {
  const text = string(value, field);
  if (!text.includes(":")) return { host: parse_ipv4(text, field) };
  return host_and_port(text, field);
}

export function mac(value: unknown, field: string): Uint8Array {
  const text = string(value, field);
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new ConfigError(field, `'${text}' is not a MAC address (XX:XX:XX:XX:XX:XX)`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function parse_key(text: string, field: string): Uint8Array {
  try {
    return parse_key_text(text);
  } catch (err) {
    throw new ConfigError(field, (err as Error).message);
  }
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `'${value}'`;
  return typeof value === "object" ? "an object" : String(value);
}
