/** A copy of `set` with `value` in it (`on`) or out of it: for checkbox groups kept as a Set. */
export function toggled<T>(set: ReadonlySet<T> | null, value: T, on: boolean): Set<T> {
  const next = new Set(set);
  if (on) next.add(value);
  else next.delete(value);
  return next;
}
