#!/usr/bin/env node
// `npx governor ...`: runs the TypeScript CLI directly (Node 24 strips types).
import "../src/cli/main.ts";
