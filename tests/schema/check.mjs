// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Schema check of Kubernetes manifests, offline: node check.mjs < rendered.yaml
//
// Two checks per object, both from the kubernetes-models package (the API's OpenAPI schema):
//  1. its runtime validator (required fields, types, formats such as int32), and
//  2. unknown fields, which that validator lets through (the API server would drop them
//     with a warning, so a typo silently changes nothing): the object is type-checked by
//     the TypeScript compiler against the package's interface for its kind, whose excess-
//     property check names every field the schema does not have, at any depth.
// Prints "KIND/NAME: PATH: MESSAGE" per problem and exits 1 if there was one.
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const docs = parseAllDocuments(readFileSync(0, "utf8"))
  .map((d) => d.toJS())
  .filter((o) => o && typeof o === "object");
let problems = 0;
const say = (obj, path, msg) => {
  problems++;
  console.log(`${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}: ${path || "/"}: ${msg}`);
};

// "apps/v1" + DaemonSet -> kubernetes-models/apps/v1/DaemonSet; "v1" -> kubernetes-models/v1/...
const modulePath = (o) => `kubernetes-models/${o.apiVersion}/${o.kind}`;
const typed = [];
for (const [i, o] of docs.entries()) {
  if (!o.apiVersion || !o.kind) {
    say(o, "", "no apiVersion or kind");
    continue;
  }
  let Model;
  try {
    Model = require(modulePath(o))[o.kind];
  } catch {
    say(o, "", `no schema for ${o.apiVersion} ${o.kind}`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    for (const err of e.errors ?? [{ instancePath: "", message: e.message }])
      say(o, err.instancePath, `${err.message}${err.params ? " " + JSON.stringify(err.params) : ""}`);
  }
  typed.push({ i, o });
}

if (typed.length) {
  const dir = mkdtempSync(join(tmpdir(), "shunt-schema-"));
  const file = join(dir, "objects.ts");
  const lines = typed.map(({ i, o }) =>
    `import type { I${o.kind} as T${i} } from ${JSON.stringify(join(here, "node_modules", modulePath(o)))};\n` +
    `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`);
  writeFileSync(file, lines.join("\n") + "\n");
  const starts = [];
  let line = 0;
  for (const l of lines) {
    starts.push(line);
    line += l.split("\n").length;
  }
  const program = ts.createProgram([file], {
    noEmit: true, strict: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (!d.file || d.file.fileName !== file) {
      say({}, "", ts.flattenDiagnosticMessageText(d.messageText, " "));
      continue;
    }
    const { line: l } = d.file.getLineAndCharacterOfPosition(d.start);
    let k = starts.length - 1;
    while (k > 0 && starts[k] > l) k--;
    // the JSON path of the offending line: walk the text back to the object's start
    const text = d.file.text.split("\n").slice(starts[k] + 1, l + 1);
    const path = [];
    let depth = 0;
    for (let j = text.length - 1; j >= 0; j--) {
      const t = text[j].trim();
      if (/^[}\]],?$/.test(t)) depth++;
      const m = t.match(/^"([^"]+)": [[{]$/);
      if (j < text.length - 1 && (m || /^[[{]$/.test(t)) && depth-- === 0) {
        if (m) path.unshift(m[1]);
        depth = 0;
      }
    }
    const own = text[text.length - 1].trim().match(/^"([^"]+)": [^[{]/);
    if (own) path.push(own[1]);
    say(typed[k].o, "/" + path.join("/"), ts.flattenDiagnosticMessageText(d.messageText, " ").split(" Type '")[0]);
  }
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${docs.length} objects, ${problems} problems`);
process.exit(problems ? 1 : 0);
