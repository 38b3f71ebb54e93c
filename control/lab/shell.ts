// Running the lab's commands: in the host's namespace (run) or inside one of
// the lab's network namespaces (in_namespace, spawn_in_namespace, both through
// `ip netns exec`, which execs, so a spawned child's pid is the command's).
// Tools are found by absolute path once and cached; a missing one is reported
// with the Debian package that provides it. Nothing here knows the lab's
// layout.

/** Tools the lab runs, and the Debian package that provides each. */
const TOOL_PACKAGES: Record<string, string> = {
  ip: "iproute2",
  ethtool: "ethtool",
  sysctl: "procps",
  nginx: "nginx-light",
  curl: "curl",
  wrk: "wrk",
  bird: "bird2",
  birdc: "bird2",
};

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InNamespaceOptions {
  stdin?: string | Uint8Array;
  env?: Record<string, string>;
  /** Throw with the command's stderr when it exits non-zero. */
  check?: boolean;
}

export interface SpawnInNamespaceOptions {
  stdin?: "piped" | "inherit" | "null";
  stdout?: "piped" | "inherit" | "null";
  stderr?: "piped" | "inherit" | "null";
  env?: Record<string, string>;
}

/** Run `command` inside network namespace `ns` (ip netns exec) and collect its output. */
export async function in_namespace(
  ns: string,
  command: string[],
  options: InNamespaceOptions = {},
): Promise<CommandResult> {
  return await run([tool("ip"), "netns", "exec", ns, ...command], options);
}

/**
 * Start `command` inside network namespace `ns`. `ip netns exec` execs the
 * command in place, so the child's pid is the command's own pid.
 */
export function spawn_in_namespace(
  ns: string,
  command: string[],
  options: SpawnInNamespaceOptions = {},
): Deno.ChildProcess {
  const [program, ...args] = [tool("ip"), "netns", "exec", ns, ...command];
  return spawn_checked(program, args, {
    stdin: options.stdin ?? "null",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
    env: options.env,
  });
}

export function require_root(): void {
  if (Deno.uid() !== 0) {
    throw new Error(
      "lab: must run as root (namespaces, veths and sysctls need CAP_NET_ADMIN/CAP_SYS_ADMIN)",
    );
  }
}

const tool_paths = new Map<string, string>();

/** Absolute path of a tool, or an error naming it and its Debian package. */
export function tool(name: string): string {
  const cached = tool_paths.get(name);
  if (cached) return cached;
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
        tool_paths.set(name, `${dir}/${name}`);
        return `${dir}/${name}`;
      }
    } catch { /* not here */ }
  }
  throw new Error(missing_tool(name));
}

function missing_tool(name: string): string {
  const pkg = TOOL_PACKAGES[name];
  return pkg
    ? `lab: '${name}' not found; install the Debian package '${pkg}' (apt-get install -y ${pkg})`
    : `lab: '${name}' not found in PATH`;
}

export function spawn_checked(
  program: string,
  args: string[],
  options: Deno.CommandOptions,
): Deno.ChildProcess {
  try {
    return new Deno.Command(program, { ...options, args }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(missing_tool(program));
    throw error;
  }
}

export async function run(command: string[], options: InNamespaceOptions): Promise<CommandResult> {
  const [program, ...args] = command;
  const child = spawn_checked(program, args, {
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  });
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const output = await child.output();
  const result = {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
  if (options.check && result.code !== 0) {
    // `ip netns exec` reports a command it cannot find as `exec of "X" failed`.
    const missing = command[1] === "netns" && command[2] === "exec" &&
      /exec of ".*" failed: No such file or directory/.test(result.stderr);
    if (missing) throw new Error(missing_tool(command[4]));
    throw new Error(
      `lab: '${command.join(" ")}' failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return result;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops a daemon the lab started: SIGTERM (its clean shutdown), SIGKILL
 * after 5 s; only while `alive` says it is still that daemon (pids get reused).
 */
export async function stop_daemon(pid: number, alive: () => boolean): Promise<void> {
  if (!alive()) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (alive()) {
    if (Date.now() > deadline) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
      break;
    }
    await sleep(20);
  }
}
