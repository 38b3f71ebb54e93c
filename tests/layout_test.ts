// The layout rules, checked on the source itself: dependencies run one way
// (control → dataplane → native), a folder is imported from outside only
// through its mod.ts, no product file grows past about 600 lines, and the
// lab stays in control/lab/. Imports are read from the text (static
// `import ... from` and `export ... from`, and dynamic `import("...")`).

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
const PRODUCT_FOLDERS = ["native", "dataplane", "control", "bench"];
const MAX_LINES = 600;

interface SourceFile {
  path: string;
  text: string;
}

function list_ts(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(ROOT + dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...list_ts(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

function read_sources(folders: string[]): SourceFile[] {
  return folders.flatMap(list_ts).map((path) => ({
    path,
    text: Deno.readTextFileSync(ROOT + path),
  }));
}

/** Relative module specifiers a file imports, resolved to repo paths. */
export function imported_paths(file: SourceFile): string[] {
  const specs = [
    ...file.text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms),
    ...file.text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g),
  ].map((m) => m[1]);
  const dir = file.path.slice(0, file.path.lastIndexOf("/"));
  return specs.map((spec) => normalise(`${dir}/${spec}`));
}

function normalise(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return parts.join("/");
}

function folder_of(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

const sources = read_sources([...PRODUCT_FOLDERS, "tests"]);

Deno.test("layout: dataplane/ and native/ never import control/ (nor native/ the dataplane)", () => {
  const wrong: string[] = [];
  for (const file of sources) {
    for (const target of imported_paths(file)) {
      const into_control = target.startsWith("control/");
      if (file.path.startsWith("dataplane/") && into_control) {
        wrong.push(`${file.path} → ${target}`);
      }
      if (file.path.startsWith("native/") && !target.startsWith("native/")) {
        wrong.push(`${file.path} → ${target}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("layout: another folder's modules are imported through its mod.ts", () => {
  const wrong: string[] = [];
  for (const file of sources) {
    const from = folder_of(file.path);
    for (const target of imported_paths(file)) {
      const to = folder_of(target);
      // a folder's own files, and a subfolder using its parent's library, are inside
      if (to === from || from.startsWith(`${to}/`) || target.endsWith("/mod.ts")) continue;
      // test harnesses and fixtures are test files, not a folder's face
      if (to.startsWith("tests")) continue;
      // a folder's tests (tests/ mirrors its path) may reach inside it
      if (folder_of(file.path) === `tests/${to}`) continue;
      wrong.push(`${file.path} → ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test(`layout: no product source file is longer than ${MAX_LINES} lines`, () => {
  const long = sources
    .filter((file) => PRODUCT_FOLDERS.some((folder) => file.path.startsWith(`${folder}/`)))
    .map((file) => ({ path: file.path, lines: file.text.split("\n").length - 1 }))
    .filter((file) => file.lines > MAX_LINES)
    .map((file) => `${file.path}: ${file.lines}`);
  assert.deepEqual(long, []);
});

Deno.test("layout: the lab and the demo live in control/lab/, not at control/'s top level", () => {
  const top = list_ts("control").filter((path) => folder_of(path) === "control");
  assert.deepEqual(top.filter((path) => /\/(lab|demo|dpdk_process)[^/]*\.ts$/.test(path)), []);
});

Deno.test("layout: the import reader sees static, re-exported and dynamic imports", () => {
  const file = {
    path: "control/x.ts",
    text: 'import { a } from "./a.ts";\nexport * from "../dataplane/b.ts";\n' +
      'import {\n  c,\n} from "./lab/c.ts";\nconst d = await import("./d.ts");\n',
  };
  assert.deepEqual(imported_paths(file), [
    "control/a.ts",
    "dataplane/b.ts",
    "control/lab/c.ts",
    "control/d.ts",
  ]);
});
