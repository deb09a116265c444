// Exact decimal arithmetic on strings for the UI: prices and quantities never pass through a
// binary float here (only the chart's canvas gets numbers, at the very edge).

export interface Dec {
  units: bigint; // value = units / 10^scale
  scale: number;
}

const PLAIN = /^-?\d+(\.\d+)?$/;

export function parse(text: string): Dec | null {
  const s = text.trim();
  if (!PLAIN.test(s)) return null;
  const negative = s.startsWith("-");
  const body = negative ? s.slice(1) : s;
  const [whole = "0", frac = ""] = body.split(".");
  const units = BigInt(whole + frac) * (negative ? -1n : 1n);
  return { units, scale: frac.length };
}

function rescale(d: Dec, scale: number): bigint {
  return d.units * 10n ** BigInt(scale - d.scale);
}

export function decimals(text: string): number {
  const i = text.indexOf(".");
  return i < 0 ? 0 : text.length - i - 1;
}

export function compare(a: Dec, b: Dec): number {
  const s = Math.max(a.scale, b.scale);
  const x = rescale(a, s);
  const y = rescale(b, s);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isMultiple(value: Dec, step: Dec): boolean {
  const s = Math.max(value.scale, step.scale);
  const stepUnits = rescale(step, s);
  return stepUnits !== 0n && rescale(value, s) % stepUnits === 0n;
}

export function add(a: Dec, b: Dec): Dec {
  const s = Math.max(a.scale, b.scale);
  return { units: rescale(a, s) + rescale(b, s), scale: s };
}

export function sub(a: Dec, b: Dec): Dec {
  return add(a, { units: -b.units, scale: b.scale });
}

export function mul(a: Dec, b: Dec): Dec {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** Round half away from zero to `scale` decimals. */
export function round(d: Dec, scale: number): Dec {
  if (d.scale <= scale) return { units: rescale(d, scale), scale };
  const div = 10n ** BigInt(d.scale - scale);
  const neg = d.units < 0n;
  const abs = neg ? -d.units : d.units;
  let q = abs / div;
  if ((abs % div) * 2n >= div) q += 1n;
  return { units: neg ? -q : q, scale };
}

export function format(d: Dec): string {
  const neg = d.units < 0n;
  let digits = (neg ? -d.units : d.units).toString();
  if (d.scale === 0) return (neg ? "-" : "") + digits;
  digits = digits.padStart(d.scale + 1, "0");
  const whole = digits.slice(0, digits.length - d.scale);
  const frac = digits.slice(digits.length - d.scale);
  return `${neg ? "-" : ""}${whole}.${frac}`;
}

/** Group thousands of a plain decimal string for display ("60000.50" -> "60,000.50"). */
export function group(text: string | null | undefined): string {
  if (text == null || text === "") return "—";
  const [whole = "", frac] = text.split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = sign ? whole.slice(1) : whole;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + grouped + (frac !== undefined ? `.${frac}` : "");
}

export function isZero(text: string): boolean {
  const d = parse(text);
  return d !== null && d.units === 0n;
}
