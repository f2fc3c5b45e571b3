import { OperationError } from '../shared/errors.js';
import { quoteIdent } from '../shared/sql/quote.js';

/** A key column: its name and its type as PostgreSQL formats it (`format_type`). */
export interface KeyColumn {
  name: string;
  type: string;
  /** The column's collation when it is not the database default (schema-qualified and quoted), else null. */
  collation?: string | null;
}

/**
 * How a key range is read.
 * - `rows`: as a set of rows (the sub-batch statements). The range is written as a disjunction
 *   of index ranges, each an equality on a key prefix and one inequality, so every branch is an
 *   exact btree range and the planner estimates it from the statistics of each column.
 * - `walk`: in key order, `ORDER BY key ... LIMIT` (the split and the boundary walk). PostgreSQL
 *   15 cannot walk a disjunction in index order, so the range stays a row comparison, which a
 *   btree scan starts and stops at exactly; only the prefix the two bounds share becomes
 *   equalities, which makes the estimate right whenever the range stays within one prefix.
 */
export type RangeUse = 'rows' | 'walk';

/**
 * The keys in (lower, upper], in key order, as SQL over `target.keys`; a null bound is
 * unbounded. Bound values are appended to `params` and referenced as `$n::type`.
 *
 * A row comparison `(a, b) > ($1, $2) AND (a, b) <= ($3, $4)` selects the same keys, but
 * PostgreSQL estimates a row comparison from its first column alone, and two of them as if
 * independent: a range of 43 keys within one tenant was estimated at 17,854 rows, which turned
 * the sub-batch UPDATE into a hash join over the whole table. Here the shape depends on where
 * the bounds first differ, which only the bound values tell: each possible shape is guarded by
 * comparisons of the parameters alone (`$1 = $3`, `$1 <> $3`), which the planner folds to
 * constants in the custom plan it makes for the values of an unnamed statement (node-postgres'
 * parameterised queries), so exactly one shape is planned. The guards compare with the key
 * type's own `=` and `<>`, never `<`, in the key column's collation: a parameter carries the
 * default collation, and under a nondeterministic one ('acme' = 'ACME') equality differs.
 *
 * Callers pass bounds in key order (lower below upper), as the split and the checkpoints make
 * them; an inverted pair of bounds is empty as a row comparison but not here. Key columns are
 * NOT NULL (a NULL key is in no keyset range).
 */
export function rangePredicate(
  target: { keys: readonly KeyColumn[] },
  lower: readonly string[] | null,
  upper: readonly string[] | null,
  params: unknown[],
  use: RangeUse = 'rows',
): string {
  const columns = target.keys.map((key) => quoteIdent(key.name));
  const bind = (values: readonly string[]) => {
    if (values.length !== columns.length) throw new OperationError(`a key bound has ${values.length} values for ${columns.length} key columns`);
    const first = params.length + 1;
    params.push(...values);
    return target.keys.map((key, i) => `$${first + i}::${key.type}`);
  };
  const lo = lower ? bind(lower) : null;
  const hi = upper ? bind(upper) : null;
  if (columns.length === 1) {
    // Exactly the clauses (and so the plans) single-column keys always had.
    const parts = [...(lo ? [`${columns[0]} > ${lo[0]}`] : []), ...(hi ? [`${columns[0]} <= ${hi[0]}`] : [])];
    return parts.length ? parts.join(' AND ') : 'true';
  }
  const n = columns.length;
  const and = (clauses: string[]) => clauses.join(' AND ');
  const or = (terms: string[]) => (terms.length === 1 ? terms[0]! : `(${terms.map((term) => `(${term})`).join(' OR ')})`);
  /** Columns from..to-1 equal to the bound's values. */
  const equal = (bound: string[], from: number, to: number) => columns.slice(from, to).map((column, i) => `${column} = ${bound[from + i]}`);
  /** (columns from..n-1) compared with the bound's values: a row comparison, or a plain one for one column. */
  const compare = (operator: '>' | '<=', bound: string[], from: number) =>
    from === n - 1 ? `${columns[from]} ${operator} ${bound[from]}` : `(${columns.slice(from).join(', ')}) ${operator} (${bound.slice(from).join(', ')})`;
  /** (columns from..n-1) > bound, as index ranges in key order: the deepest equal prefix first. */
  const above = (bound: string[], from: number) => {
    const arms: string[] = [];
    for (let j = n - 1; j >= from; j--) arms.push(and([...equal(bound, from, j), `${columns[j]} > ${bound[j]}`]));
    return arms;
  };
  /** (columns from..n-1) <= bound, as index ranges in key order. */
  const atMost = (bound: string[], from: number) => {
    const arms: string[] = [];
    for (let j = from; j < n; j++) arms.push(and([...equal(bound, from, j), `${columns[j]} ${j === n - 1 ? '<=' : '<'} ${bound[j]}`]));
    return arms;
  };

  if (!lo && !hi) return 'true';
  if (use === 'walk' && (!lo || !hi)) return lo ? compare('>', lo, 0) : compare('<=', hi!, 0);
  if (!hi) return or(above(lo!, 0));
  if (!lo) return or(atMost(hi, 0));

  // Both bounds: one guarded term per column k where the bounds may first differ. Bounds equal
  // on every column leave every guard false: the range (x, x] is empty.
  const terms: string[] = [];
  for (let k = 0; k < n; k++) {
    const collated = (i: number) => (target.keys[i]!.collation ? `${lo[i]} COLLATE ${target.keys[i]!.collation}` : lo[i]!);
    const guard = [...columns.slice(0, k).map((_, i) => `${collated(i)} = ${hi[i]}`), ...(k < n - 1 ? [`${collated(k)} <> ${hi[k]}`] : [])];
    const prefix = equal(lo, 0, k);
    let range: string[];
    if (use === 'walk') {
      range = [compare('>', lo, k), compare('<=', hi, k)];
    } else if (k === n - 1) {
      range = [`${columns[k]} > ${lo[k]}`, `${columns[k]} <= ${hi[k]}`];
    } else {
      // (lo[k], lo[k+1..]) < key <= (hi[k], hi[k+1..]) with lo[k] <> hi[k]: the rest of lo's
      // value of column k, the values strictly between, and the start of hi's value.
      range = [or([...above(lo, k).slice(0, -1), `${columns[k]} > ${lo[k]} AND ${columns[k]} < ${hi[k]}`, ...atMost(hi, k).slice(1)])];
    }
    terms.push(and([...guard, ...prefix, ...range]));
  }
  return or(terms);
}
