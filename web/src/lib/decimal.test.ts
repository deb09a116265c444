import { describe, expect, it } from "vitest";
import { add, compare, format, group, isMultiple, mul, parse, round, sub } from "./decimal";

const d = (s: string) => parse(s)!;

describe("decimal", () => {
  it("parses plain decimals and refuses everything else", () => {
    expect(parse("101.25")).toEqual({ units: 10125n, scale: 2 });
    expect(parse("-0.5")).toEqual({ units: -5n, scale: 1 });
    for (const bad of ["1e3", "NaN", "", "1.", ".5", "1,5", "Infinity", "0x10"]) {
      expect(parse(bad)).toBeNull();
    }
  });

  it("does exact arithmetic where floats would drift", () => {
    expect(format(add(d("0.1"), d("0.2")))).toBe("0.3");
    expect(format(sub(d("60000.10"), d("59999.9")))).toBe("0.20");
    expect(format(mul(d("1.08016"), d("1000")))).toBe("1080.16000");
    expect(compare(d("0.30"), d("0.3"))).toBe(0);
    expect(compare(d("-1"), d("0.5"))).toBe(-1);
  });

  it("rounds half away from zero", () => {
    expect(format(round(d("2.345"), 2))).toBe("2.35");
    expect(format(round(d("-2.345"), 2))).toBe("-2.35");
    expect(format(round(d("2.344"), 2))).toBe("2.34");
    expect(format(round(d("7"), 2))).toBe("7.00");
  });

  it("knows multiples of a step", () => {
    expect(isMultiple(d("100.25"), d("0.05"))).toBe(true);
    expect(isMultiple(d("100.27"), d("0.05"))).toBe(false);
    expect(isMultiple(d("2000"), d("1000"))).toBe(true);
    expect(isMultiple(d("1500"), d("1000"))).toBe(false);
  });

  it("groups thousands for display only", () => {
    expect(group("60000.50")).toBe("60,000.50");
    expect(group("-1234567")).toBe("-1,234,567");
    expect(group(null)).toBe("—");
  });
});
