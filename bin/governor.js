#!/usr/bin/env -S node --expose-gc
// `npx governor ...`: runs the TypeScript CLI directly (Node 24 strips types).
import "../src/cli/main.ts";
