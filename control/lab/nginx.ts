// The lab's servers: each one's document root and nginx config under the
// lab's state directory, and its nginx started inside its namespace. Every
// nginx this starts is recorded in the state file first, and is only ever
// signalled after /proc shows it is still the nginx started with this lab's
// config (pids get reused).

import { in_namespace, sleep, stop_daemon, tool } from "./shell.ts";
import type { Lab, LabServer } from "./topology.ts";
import { big_file_bytes, small_text } from "./content.ts";
import { type LabState, read_pid_file, write_state } from "./state.ts";

/** Writes every server's document root; returns big.bin's sha256 (hex). */
export async function write_content(lab: Lab): Promise<string> {
  const big = big_file_bytes();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", big));
  const shared = `${lab.state_dir}/big.bin`;
  await Deno.writeFile(shared, big, { mode: 0o644 });
  for (const server of lab.servers) {
    const dir = `${lab.state_dir}/srv${server.id}`;
    await Deno.mkdir(`${server.docroot}`, { recursive: true, mode: 0o755 });
    await Deno.mkdir(`${dir}/tmp`, { recursive: true, mode: 0o755 });
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(server.docroot, 0o755);
    await Deno.writeTextFile(`${server.docroot}/index.html`, `server ${server.id}\n`);
    await Deno.writeTextFile(`${server.docroot}/small.txt`, small_text(server.id));
    // nginx's workers (nobody) write PUT bodies here
    await Deno.mkdir(`${server.docroot}/upload`, { recursive: true });
    await Deno.chmod(`${server.docroot}/upload`, 0o777);
    await Deno.link(shared, `${server.docroot}/big.bin`);
    await Deno.writeTextFile(server.nginx_conf, nginx_conf(server, dir));
  }
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function nginx_conf(server: LabServer, dir: string): string {
  return `# baton lab server ${server.id}; written by control/lab/nginx.ts
daemon on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  types { text/html html; text/plain txt; application/octet-stream bin; }
  default_type text/html;
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  sendfile on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  server {
    listen 0.0.0.0:80 default_server backlog=4096;
    server_name _;
    root ${server.docroot};
    add_header X-Served-By srv${server.id} always;
    # any path that is not a file answers with this server's index
    location / { try_files $uri /index.html; }
    # WebDAV PUT: a server that reads a request's body before it answers
    location /upload/ { dav_methods PUT; create_full_put_path on; client_max_body_size 1m; }
  }
}
`;
}

export async function start_nginx(server: LabServer, state: LabState): Promise<number> {
  const dir = server.nginx_conf.slice(0, server.nginx_conf.lastIndexOf("/"));
  state.nginx_confs.push(server.nginx_conf);
  state.nginx_pids.push(0);
  await write_state(state);
  // -e: the error log before the config is read (nginx would otherwise open /var/log/nginx).
  await in_namespace(server.ns, [
    tool("nginx"),
    "-c",
    server.nginx_conf,
    "-e",
    `${dir}/error.log`,
  ], { check: true });
  // The daemonised master writes its pid file after binding :80, so once it is
  // there, connections are accepted.
  const deadline = Date.now() + 5000;
  for (;;) {
    const pid = await read_pid_file(`${dir}/nginx.pid`);
    if (pid) {
      state.nginx_pids[state.nginx_pids.length - 1] = pid;
      await write_state(state);
      return pid;
    }
    if (Date.now() > deadline) {
      throw new Error(`lab: nginx for ${server.ns} wrote no pid file; see ${dir}/error.log`);
    }
    await sleep(20);
  }
}

/** True only for the nginx master started with this lab's config (pids get reused). */
export function nginx_alive(pid: number, conf: string): boolean {
  if (!pid) return false;
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
    return cmdline.includes("nginx") && cmdline.includes(conf);
  } catch {
    return false;
  }
}

export async function stop_nginx(pid: number, conf: string): Promise<void> {
  await stop_daemon(pid, () => nginx_alive(pid, conf));
}
