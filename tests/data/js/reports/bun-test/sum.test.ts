import { test, expect } from "bun:test";
test("adds", () => { expect(1 + 2).toBe(3); });
test("fails", () => { expect(1 + 2).toBe(4); });
