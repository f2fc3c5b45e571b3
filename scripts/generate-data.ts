/**
 * Deterministic test data for the base schema (migration 2025.01.01_000000_base_schema).
 *
 *   npx tsx scripts/generate-data.ts --rows N [--database-url URL]
 *
 * For N customers it writes max(1, floor(N/1000)) businesses, two users per business,
 * N work orders, floor(N/2) customer_equipment rows and floor(N/2) repair orders. Every value is
 * a pure function of the row's sequence number (ids are md5(prefix || seq)::uuid with prefixes
 * b, u, c, w, e, r; everything else comes from hashint8extended(seq, seed)), so two runs produce
 * identical tables. Heap order is sequence order, hence random with respect to the uuid keys.
 * All rows are produced server-side by INSERT ... SELECT over generate_series, one statement
 * per table, in one transaction after TRUNCATE; then the tables are VACUUM ANALYZEd.
 * Keys and indexes are dropped for the load and re-created afterwards in the same transaction
 * (see dropKeysAndIndexes); re-creating the foreign keys validates every reference.
 *
 * hs.customers.phone_primary: 10% NULL, 20% already '+1NNNNNNNNNN', 23% '(NNN) NNN-NNNN',
 * 23% 'NNN.NNN.NNNN', 24% '1-NNN-NNN-NNNN' (70% of the rows need standardizing).
 * phone_secondary: 50% NULL; when present it is '+1NNNNNNNNNN' if the primary is NULL or already
 * standard, otherwise a mix of '+1NNNNNNNNNN', 'NNN-NNN-NNNN', '(NNN) NNN-NNNN' and 'NNNNNNNNNN'.
 * So a row needs standardizing exactly when its primary does: 70% whether a migration's
 * predicate looks at the primary phone alone or at both.
 *
 * The schema must have the base (5.0.0) shape of these tables; columns added by later
 * migrations are left at their defaults. TRUNCATE ... CASCADE also empties tables that reference
 * these (e.g. vet.animals).
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

export interface TableRows {
  table: string;
  rows: number;
}

export interface GenerateDataOptions {
  /** Run VACUUM ANALYZE on the tables afterwards (not possible inside a transaction block). @defaultValue true */
  vacuum?: boolean;
  /** Receives one line per finished step, with its duration. @defaultValue no logging */
  log?: (line: string) => void;
}

/** The tables this generator fills, parents first. */
export const GENERATED_TABLES = [
  'tenant_mgmt.businesses',
  'user_mgmt.users',
  'hs.customers',
  'hs.work_orders',
  'hs.customer_equipment',
  'auto.repair_orders',
] as const;

export interface RowCounts {
  businesses: number;
  users: number;
  customers: number;
  workOrders: number;
  customerEquipment: number;
  repairOrders: number;
}

/** How many rows each table gets for `rows` customers. */
export function rowCounts(rows: number): RowCounts {
  if (!Number.isSafeInteger(rows) || rows < 1) {
    throw new RangeError(`rows must be a positive integer, got ${rows}`);
  }
  const businesses = Math.max(1, Math.floor(rows / 1000));
  return {
    businesses,
    users: businesses * 2,
    customers: rows,
    workOrders: rows,
    customerEquipment: Math.floor(rows / 2),
    repairOrders: Math.floor(rows / 2),
  };
}

// Pseudo-random values are bytes of 64-bit hashes of the row's sequence number:
// stream "h" of a table is hashint8extended(g, seed) AS h0, hashint8extended(g, seed + 1) AS h1,
// ..., and byte i of it is bits 8*(i%8) .. 8*(i%8)+7 of h<i/8>. They are computed once per row in
// an OFFSET 0 subquery, so the planner cannot substitute (and re-evaluate) them per reference.
// hashint8extended is PostgreSQL's own C hash (the one hash partitioning uses): cheap, and a pure
// function of its arguments.
const u8 = (h: string, i: number): string => `((${h}${i >> 3} >> ${(i & 7) * 8}) & 255)::int`;
const u16 = (h: string, i: number): string => `((${u8(h, i)} << 8) | ${u8(h, i + 1)})`;
const u32 = (h: string, i: number): string =>
  `((${u8(h, i)}::bigint << 24) | (${u8(h, i + 1)} << 16) | (${u8(h, i + 2)} << 8) | ${u8(h, i + 3)})`;
/** Select-list items for stream `h` with `bytes` bytes, seeded with seed, seed + 1, ... */
function stream(h: string, seed: number, bytes: number): string {
  const cols: string[] = [];
  for (let k = 0; k * 8 < bytes; k++) cols.push(`hashint8extended(g, ${seed + k}) AS ${h}${k}`);
  return cols.join(', ');
}
/** Element of a literal text array, chosen by an integer expression. */
const pick = (values: readonly string[], index: string): string =>
  `(ARRAY[${values.map(sqlText).join(', ')}])[1 + (${index}) % ${values.length}]`;

function sqlText(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** The ids of businesses 1..$n, computed once per statement; index it with 1-based seq. */
const BUSINESS_IDS = (param: string): string =>
  `(SELECT array_agg(md5('b' || i)::uuid ORDER BY i) AS ids FROM generate_series(1, ${param}::int) AS i) AS biz`;

/** md5(prefix || seq)::uuid, the deterministic id of row `seq` of a table. */
const idOf = (prefix: string, seq: string): string => `md5('${prefix}' || (${seq}))::uuid`;

const FIRST_NAMES = [
  'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth',
  'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Carlos', 'Karen',
  'Daniel', 'Lisa', 'Matthew', 'Nancy', 'Anthony', 'Betty', 'Mark', 'Sandra', 'Luis', 'Ashley',
  'Steven', 'Kimberly', 'Andrew', 'Emily', 'Kevin', 'Donna', 'Brian', 'Michelle', 'Wei', 'Priya',
];
const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
  'Walker', 'Young', 'Allen', 'King', 'Wright', "O'Connor", 'Hill', 'Nguyen', 'Patel', 'Kim',
];
const STREETS = [
  'Main', 'Oak', 'Pine', 'Maple', 'Cedar', 'Elm', 'Washington', 'Lake', 'Hill', 'Park',
  'Sunset', 'River', 'Church', 'Highland', 'Meadow', 'Forest', 'Spring', 'Ridge', 'Valley', 'Willow',
];
const STREET_SUFFIXES = ['St', 'Ave', 'Rd', 'Blvd', 'Ln', 'Dr', 'Ct', 'Way'];
// City, state and ZIP prefix share an index.
const CITIES = ['Austin', 'Denver', 'Phoenix', 'Columbus', 'Charlotte', 'Nashville', 'Portland', 'Tampa', 'Raleigh', 'Boise', 'Omaha', 'Tucson'];
const STATES = ['TX', 'CO', 'AZ', 'OH', 'NC', 'TN', 'OR', 'FL', 'NC', 'ID', 'NE', 'AZ'];
const ZIP_PREFIXES = ['787', '802', '850', '432', '282', '372', '972', '336', '276', '837', '681', '857'];

const BUSINESS_NAMES = ['Summit', 'Reliable', 'Blue Sky', 'Precision', 'Hometown', 'Apex', 'Lone Star', 'Evergreen', 'Patriot', 'Golden Gate'];
const HS_TRADES = ['Heating & Air', 'Plumbing', 'Electric', 'Home Services', 'Mechanical'];
const AUTO_TRADES = ['Auto Repair', 'Automotive', 'Tire & Service', 'Motors'];
const TIMEZONES = ['America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Phoenix'];

const WORK_ORDER_TITLES = [
  'No heat', 'AC not cooling', 'Annual furnace tune-up', 'Water heater leaking', 'Clogged drain',
  'Install smart thermostat', 'Breaker keeps tripping', 'Replace garbage disposal', 'Burst pipe', 'Duct cleaning',
  'Toilet running', 'Heat pump maintenance', 'Sump pump failure', 'Outlet not working', 'Gas smell near furnace',
];
const WORK_ORDER_STATUSES = ['pending', 'scheduled', 'in_progress', 'completed', 'cancelled'];

// Equipment kinds: type, category, name, capacity, efficiency, fuel and voltage share an index.
const EQ_TYPES = ['hvac', 'hvac', 'hvac', 'plumbing', 'plumbing', 'plumbing', 'electrical', 'electrical'];
const EQ_CATEGORIES = ['heating', 'cooling', 'heat_pump', 'water_heater', 'water_heater', 'water_treatment', 'panel', 'generator'];
const EQ_NAMES = ['Gas Furnace', 'Central Air Conditioner', 'Heat Pump', 'Tank Water Heater', 'Tankless Water Heater', 'Water Softener', 'Main Electrical Panel', 'Standby Generator'];
const EQ_CAPACITIES = ['80,000 BTU', '3 ton', '2.5 ton', '50 gal', '199,000 BTU', '48,000 grain', '200 A', '22 kW'];
const EQ_EFFICIENCIES = ['96% AFUE', '16 SEER2', '9.5 HSPF2', '0.67 UEF', '0.93 UEF', null, null, null];
const EQ_FUELS = ['natural_gas', 'electric', 'electric', 'natural_gas', 'natural_gas', 'electric', 'electric', 'natural_gas'];
const EQ_VOLTAGES = ['120', '240', '240', '120', '120', '120', '240', '240'];
const MANUFACTURERS = ['Carrier', 'Trane', 'Lennox', 'Rheem', 'Goodman', 'A. O. Smith', 'Bradford White', 'Rinnai', 'Generac', 'Square D'];
const TECHNICIANS = ['M. Alvarez', 'J. Chen', 'R. Okafor', 'S. Novak', 'T. Brooks', 'K. Haddad'];
const MAINTENANCE_FREQUENCIES = ['annual', 'semi_annual', 'quarterly'];
const CONDITIONS = ['excellent', 'good', 'good', 'good', 'fair', 'poor'];
const OPERATIONAL_STATUSES = ['operational', 'operational', 'operational', 'operational', 'operational', 'operational', 'needs_repair', 'out_of_service'];

// Vehicles: make and model share an index.
const MAKES = ['Toyota', 'Honda', 'Ford', 'Chevrolet', 'Nissan', 'Subaru', 'Hyundai', 'Jeep', 'Ram', 'Tesla'];
const MODELS = ['Camry', 'Civic', 'F-150', 'Silverado', 'Altima', 'Outback', 'Elantra', 'Wrangler', '1500', 'Model 3'];
const COMPLAINTS = [
  'Check engine light on', 'Brakes squeaking', 'Oil change and inspection', 'AC blows warm air', 'Vibration at highway speed',
  'Battery not holding charge', 'Transmission slipping', 'Tire rotation', 'Coolant leak', 'Noise from front suspension',
];
const REPAIR_ORDER_STATUSES = ['open', 'in_progress', 'waiting_parts', 'completed', 'completed', 'invoiced', 'invoiced', 'cancelled'];

/** A fixed origin, so timestamps do not depend on when the generator runs. */
const EPOCH = `timestamptz '2020-01-01 00:00:00+00'`;
/** Seconds in five years: created_at spans 2020-01-01 .. 2024-12-30. */
const SPAN_SECONDS = 5 * 365 * 86400;

/** Phone number pieces AAA, EEE, LLLL from bytes i..i+5 of h. */
function phoneParts(h: string, i: number): { a: string; e: string; l: string } {
  return {
    a: `(201 + ${u16(h, i)} % 790)::text`,
    e: `(200 + ${u16(h, i + 2)} % 800)::text`,
    l: `lpad((${u16(h, i + 4)} % 10000)::text, 4, '0')`,
  };
}

/** INSERT for tenant_mgmt.businesses; $1 = number of businesses. */
export function businessesSql(): string {
  return `
INSERT INTO tenant_mgmt.businesses (id, name, industry, timezone, created_at, updated_at)
SELECT ${idOf('b', 'g')},
       ${pick(BUSINESS_NAMES, u8('a', 0))} || ' ' ||
         CASE WHEN g % 10 < 7 THEN ${pick(HS_TRADES, u8('a', 1))} ELSE ${pick(AUTO_TRADES, u8('a', 1))} END
         || ' #' || g,
       CASE WHEN g % 10 < 7 THEN 'home_services' ELSE 'automotive' END,
       ${pick(TIMEZONES, u8('a', 2))},
       ${EPOCH} - make_interval(days => 30 + ${u16('a', 3)} % 1000),
       ${EPOCH}
FROM (SELECT g, ${stream('a', 100, 4)} FROM generate_series(1, $1::int) AS g OFFSET 0) AS s`;
}

/** INSERT for user_mgmt.users; $1 = number of users, $2 = number of businesses. */
export function usersSql(): string {
  // Users 2b-1 (owner) and 2b (technician) belong to business b.
  return `
INSERT INTO user_mgmt.users (id, business_id, email, full_name, role, created_at, updated_at)
SELECT ${idOf('u', 'g')},
       biz.ids[(g + 1) / 2],
       CASE WHEN g % 2 = 1 THEN 'owner' ELSE 'tech' END || '.' || ((g + 1) / 2) || '@business.example.com',
       ${pick(FIRST_NAMES, u8('a', 0))} || ' ' || ${pick(LAST_NAMES, u8('a', 1))},
       CASE WHEN g % 2 = 1 THEN 'owner' ELSE 'technician' END,
       ${EPOCH},
       ${EPOCH}
FROM (SELECT g, ${stream('a', 200, 2)} FROM generate_series(1, $1::int) AS g OFFSET 0) AS s
CROSS JOIN ${BUSINESS_IDS('$2')}`;
}

/** INSERT for hs.customers; $1 = number of customers, $2 = number of businesses. */
export function customersSql(): string {
  // a: primary phone and address, b: secondary phone, location, notes, updates, n: name, created_at.
  const p = phoneParts('a', 2);
  const q = phoneParts('b', 0);
  return `
INSERT INTO hs.customers (
    id, business_id, first_name, last_name, company_name, email, phone_primary, phone_secondary,
    address_line1, address_line2, city, state, postal_code, country, notes,
    created_at, updated_at, deleted_at)
SELECT ${idOf('c', 'g')},
       biz.ids[1 + (g - 1) % $2::int],
       first_name,
       last_name,
       CASE WHEN ${u8('a', 10)} < 26 THEN last_name || ' ' || ${pick(['Holdings', 'Properties', 'LLC', 'Rentals'], u8('a', 11))} END,
       lower(replace(first_name || '.' || last_name, '''', '')) || g || '@example.com',
       CASE WHEN pb < 10 THEN NULL
            WHEN pb < 30 THEN '+1' || ${p.a} || ${p.e} || ${p.l}
            WHEN pb < 53 THEN '(' || ${p.a} || ') ' || ${p.e} || '-' || ${p.l}
            WHEN pb < 76 THEN ${p.a} || '.' || ${p.e} || '.' || ${p.l}
            ELSE '1-' || ${p.a} || '-' || ${p.e} || '-' || ${p.l}
       END,
       CASE WHEN sb < 50 THEN NULL
            WHEN pb < 30 OR sb < 60 THEN '+1' || ${q.a} || ${q.e} || ${q.l}
            WHEN sb < 75 THEN ${q.a} || '-' || ${q.e} || '-' || ${q.l}
            WHEN sb < 90 THEN '(' || ${q.a} || ') ' || ${q.e} || '-' || ${q.l}
            ELSE ${q.a} || ${q.e} || ${q.l}
       END,
       (100 + ${u16('a', 8)} % 9900) || ' ' || ${pick(STREETS, u8('a', 12))} || ' ' || ${pick(STREET_SUFFIXES, u8('a', 13))},
       CASE WHEN ${u8('a', 14)} < 38 THEN 'Apt ' || (1 + ${u8('a', 15)} % 40) END,
       ${pick(CITIES, 'city')},
       ${pick(STATES, 'city')},
       ${pick(ZIP_PREFIXES, 'city')} || lpad((${u8('b', 9)} % 100)::text, 2, '0'),
       'US',
       CASE WHEN ${u8('b', 10)} < 13 THEN ${pick(['Gate code 4411', 'Dog in backyard', 'Call before arrival', 'Prefers text messages', 'Side entrance'], u8('b', 11))} END,
       created_at,
       created_at + make_interval(days => ${u16('b', 12)} % 400),
       CASE WHEN ${u8('b', 14)} < 5 THEN created_at + make_interval(days => 400 + ${u8('b', 15)}) END
FROM (
    SELECT s.*,
           ${u16('a', 0)} % 100 AS pb,
           ${u16('b', 6)} % 100 AS sb,
           ${u8('b', 8)} AS city,
           ${pick(FIRST_NAMES, u8('n', 0))} AS first_name,
           ${pick(LAST_NAMES, u8('n', 1))} AS last_name,
           ${EPOCH} + make_interval(secs => (${u32('n', 2)} % ${SPAN_SECONDS})::double precision) AS created_at
    FROM (SELECT g, ${stream('a', 300, 16)}, ${stream('b', 310, 16)}, ${stream('n', 320, 6)}
          FROM generate_series(1, $1::int) AS g OFFSET 0) AS s
    OFFSET 0
) AS v
CROSS JOIN ${BUSINESS_IDS('$2')}`;
}

/** Row `g` of a child table belongs to a pseudo-random customer j (bytes 0..3 of h). */
function customerOf(h: string): string {
  return `1 + ${u32(h, 0)} % $2::int`;
}

/** INSERT for hs.work_orders; $1 = rows, $2 = number of customers, $3 = number of businesses. */
export function workOrdersSql(): string {
  return `
INSERT INTO hs.work_orders (
    id, business_id, customer_id, work_order_number, title, description, priority, status,
    scheduled_at, completed_at, total_amount, created_at, updated_at)
SELECT ${idOf('w', 'g')},
       biz.ids[1 + (j - 1) % $3::int],
       ${idOf('c', 'j')},
       'WO-' || lpad(g::text, 8, '0'),
       ${pick(WORK_ORDER_TITLES, u8('a', 4))},
       CASE WHEN ${u8('a', 5)} < 128 THEN 'Customer reports: ' || lower(${pick(WORK_ORDER_TITLES, u8('a', 4))}) || '.' END,
       CASE WHEN pr < 5 THEN 'emergency' WHEN pr < 15 THEN 'urgent' WHEN pr < 35 THEN 'high'
            WHEN pr < 85 THEN 'normal' ELSE 'low' END,
       status,
       CASE WHEN status <> 'pending' THEN created_at + make_interval(hours => 2 + ${u8('a', 8)}) END,
       CASE WHEN status = 'completed' THEN created_at + make_interval(hours => 4 + ${u16('a', 9)} % 500) END,
       round((75 + ${u32('b', 5)} % 500000 / 100.0)::numeric, 2),
       created_at,
       created_at + make_interval(hours => ${u16('a', 14)} % 2000)
FROM (
    SELECT s.*, ${customerOf('a')} AS j,
           ${u16('a', 6)} % 100 AS pr,
           ${pick(WORK_ORDER_STATUSES, u8('b', 0))} AS status,
           ${EPOCH} + make_interval(secs => (${u32('b', 1)} % ${SPAN_SECONDS})::double precision) AS created_at
    FROM (SELECT g, ${stream('a', 400, 16)}, ${stream('b', 410, 9)}
          FROM generate_series(1, $1::int) AS g OFFSET 0) AS s
    OFFSET 0
) AS v
CROSS JOIN ${BUSINESS_IDS('$3')}`;
}

/** INSERT for hs.customer_equipment; $1 = rows, $2 = number of customers, $3 = number of businesses. */
export function customerEquipmentSql(): string {
  return `
INSERT INTO hs.customer_equipment (
    id, business_id, customer_id, equipment_type, equipment_category, equipment_name,
    manufacturer, model_number, serial_number,
    install_date, installed_by, warranty_start_date, warranty_end_date, warranty_provider,
    capacity, efficiency_rating, fuel_type, voltage, amperage,
    last_service_date, next_service_due, maintenance_frequency, maintenance_notes,
    equipment_condition, operational_status, created_at, updated_at, deleted_at)
SELECT ${idOf('e', 'g')},
       biz.ids[1 + (j - 1) % $3::int],
       ${idOf('c', 'j')},
       ${pick(EQ_TYPES, 'k')},
       ${pick(EQ_CATEGORIES, 'k')},
       ${pick(EQ_NAMES, 'k')},
       manufacturer,
       upper(left(manufacturer, 2)) || '-' || (1000 + ${u16('a', 5)} % 9000) || ${pick(['A', 'B', 'C', 'X'], u8('a', 7))},
       upper(lpad(to_hex(b1 & 281474976710655), 12, '0')),
       install_date,
       ${pick(TECHNICIANS, u8('a', 8))},
       install_date,
       install_date + make_interval(years => CASE WHEN ${u8('a', 9)} < 128 THEN 5 ELSE 10 END),
       CASE WHEN ${u8('a', 10)} < 200 THEN manufacturer ELSE 'Home Warranty of America' END,
       ${pick(EQ_CAPACITIES, 'k')},
       (ARRAY[${EQ_EFFICIENCIES.map((e) => (e === null ? 'NULL' : sqlText(e))).join(', ')}]::text[])[1 + k % ${EQ_EFFICIENCIES.length}],
       ${pick(EQ_FUELS, 'k')},
       ${pick(EQ_VOLTAGES, 'k')}::integer,
       (ARRAY[15, 30, 30, 15, 15, 15, 200, 90]::numeric[])[1 + k % 8],
       last_service_date,
       (last_service_date + interval '1 year')::date,
       ${pick(MAINTENANCE_FREQUENCIES, u8('a', 11))},
       CASE WHEN ${u8('a', 12)} < 40 THEN ${pick(['Filter replaced', 'Flushed tank', 'Recommended replacement within 2 years', 'Minor corrosion on fittings', 'Customer supplies own filters'], u8('a', 13))} END,
       ${pick(CONDITIONS, u8('a', 14))},
       ${pick(OPERATIONAL_STATUSES, u8('a', 15))},
       install_date::timestamptz + interval '9 hours',
       last_service_date::timestamptz + interval '17 hours',
       CASE WHEN ${u8('b', 0)} < 5 THEN last_service_date::timestamptz + interval '30 days' END
FROM (
    SELECT s.*, ${customerOf('a')} AS j,
           ${u8('a', 4)} % ${EQ_TYPES.length} AS k,
           ${pick(MANUFACTURERS, u8('b', 1))} AS manufacturer,
           (date '2008-01-01' + ${u16('b', 2)} % 5800) AS install_date,
           (date '2023-01-01' + ${u16('b', 4)} % 700) AS last_service_date
    FROM (SELECT g, ${stream('a', 500, 16)}, ${stream('b', 510, 16)}
          FROM generate_series(1, $1::int) AS g OFFSET 0) AS s
    OFFSET 0
) AS v
CROSS JOIN ${BUSINESS_IDS('$3')}`;
}

/** INSERT for auto.repair_orders; $1 = rows, $2 = number of customers, $3 = number of businesses. */
export function repairOrdersSql(): string {
  return `
INSERT INTO auto.repair_orders (
    id, business_id, customer_id, repair_order_number, vehicle_vin, vehicle_year, vehicle_make,
    vehicle_model, mileage, complaint, status, total_amount, created_at, updated_at)
SELECT ${idOf('r', 'g')},
       biz.ids[1 + (j - 1) % $3::int],
       ${idOf('c', 'j')},
       'RO-' || lpad(g::text, 8, '0'),
       upper(lpad(to_hex(b0 & 281474976710655), 12, '0') || lpad(to_hex(b1 & 1048575), 5, '0')),
       2005 + ${u8('a', 4)} % 20,
       ${pick(MAKES, 'm')},
       ${pick(MODELS, 'm')},
       5000 + ${u32('a', 6)} % 195000,
       ${pick(COMPLAINTS, u8('a', 10))},
       ${pick(REPAIR_ORDER_STATUSES, u8('a', 11))},
       round((40 + ${u32('a', 12)} % 350000 / 100.0)::numeric, 2),
       created_at,
       created_at + make_interval(hours => ${u8('a', 5)})
FROM (
    SELECT s.*, ${customerOf('a')} AS j,
           ${u8('b', 0)} % ${MAKES.length} AS m,
           ${EPOCH} + make_interval(secs => (${u32('b', 1)} % ${SPAN_SECONDS})::double precision) AS created_at
    FROM (SELECT g, ${stream('a', 600, 16)}, ${stream('b', 610, 16)}
          FROM generate_series(1, $1::int) AS g OFFSET 0) AS s
    OFFSET 0
) AS v
CROSS JOIN ${BUSINESS_IDS('$3')}`;
}

async function timed<T>(log: ((line: string) => void) | undefined, label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await fn();
  log?.(`${label} (${((performance.now() - start) / 1000).toFixed(2)} s)`);
  return result;
}

/** A statement that re-creates something dropped for the load. */
interface Deferred {
  what: string;
  sql: string;
}

/**
 * Bulk-load preparation, inside the load's transaction and after the TRUNCATE: drops the keys and
 * indexes of the (now empty) tables so that they are built once from the loaded data (a sort)
 * instead of by millions of random insertions and per-row foreign-key checks, as pg_restore does.
 * Returns the statements that re-create them, in order: primary and unique keys, plain indexes,
 * then foreign keys, whose re-creation validates every reference in one query each. Names and
 * definitions are unchanged, so the schema is exactly as before.
 *
 * Dropped: foreign keys from or to these tables; their primary and unique keys; their plain
 * indexes. Kept (still maintained row by row): anything with a comment, in a tablespace of its
 * own, clustered, used as replica identity, or with other dependent objects (a drop that fails
 * is undone by a savepoint). Triggers are never touched, so e.g. the customer_equipment mirror of
 * migration 2025.01.31_152000 still sees every row.
 */
async function dropKeysAndIndexes(client: pg.ClientBase): Promise<Deferred[]> {
  const foreignKeys = await client.query<{ tbl: string; name: string; def: string }>(
    `SELECT c.conrelid::regclass::text AS tbl, quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint AS c
     WHERE c.contype = 'f'
       AND (c.conrelid = ANY ($1::regclass[]) OR c.confrelid = ANY ($1::regclass[]))
       AND obj_description(c.oid, 'pg_constraint') IS NULL
     ORDER BY 1, 2`,
    [GENERATED_TABLES],
  );
  const keys = await client.query<{ tbl: string; name: string; def: string }>(
    `SELECT c.conrelid::regclass::text AS tbl, quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint AS c
     JOIN pg_index AS i ON i.indexrelid = c.conindid
     JOIN pg_class AS ic ON ic.oid = i.indexrelid
     WHERE c.contype IN ('p', 'u') AND c.conrelid = ANY ($1::regclass[])
       AND NOT i.indisclustered AND NOT i.indisreplident AND ic.reltablespace = 0
       AND obj_description(c.oid, 'pg_constraint') IS NULL
       AND obj_description(i.indexrelid, 'pg_class') IS NULL
     ORDER BY 1, 2`,
    [GENERATED_TABLES],
  );
  const indexes = await client.query<{ name: string; def: string }>(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
     FROM pg_index AS i
     JOIN pg_class AS ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = ANY ($1::regclass[])
       AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
       AND NOT i.indisclustered AND NOT i.indisreplident AND i.indisvalid
       AND ic.reltablespace = 0
       AND obj_description(i.indexrelid, 'pg_class') IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                       WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
     ORDER BY 1`,
    [GENERATED_TABLES],
  );

  const dropped = { fks: [] as Deferred[], keys: [] as Deferred[], indexes: [] as Deferred[] };
  for (const fk of foreignKeys.rows) {
    if (await dropInSavepoint(client, `ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${fk.name}`)) {
      dropped.fks.push({ what: `${fk.tbl}.${fk.name}`, sql: `ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${fk.name} ${fk.def}` });
    }
  }
  for (const key of keys.rows) {
    if (await dropInSavepoint(client, `ALTER TABLE ${key.tbl} DROP CONSTRAINT ${key.name}`)) {
      dropped.keys.push({ what: `${key.tbl}.${key.name}`, sql: `ALTER TABLE ${key.tbl} ADD CONSTRAINT ${key.name} ${key.def}` });
    }
  }
  for (const index of indexes.rows) {
    if (await dropInSavepoint(client, `DROP INDEX ${index.name}`)) {
      dropped.indexes.push({ what: index.name, sql: index.def });
    }
  }
  return [...dropped.keys, ...dropped.indexes, ...dropped.fks];
}

async function dropInSavepoint(client: pg.ClientBase, sql: string): Promise<boolean> {
  await client.query('SAVEPOINT generate_data_drop');
  try {
    await client.query(sql);
    await client.query('RELEASE SAVEPOINT generate_data_drop');
    return true;
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT generate_data_drop');
    await client.query('RELEASE SAVEPOINT generate_data_drop');
    return false;
  }
}

/**
 * Replaces the contents of the base tables with deterministic data for `rows` customers.
 * The TRUNCATE and all INSERTs commit in one transaction; VACUUM ANALYZE follows unless
 * `options.vacuum` is false (it must be false when `client` is inside a transaction block).
 */
export async function generateData(
  client: pg.ClientBase,
  rows: number,
  options: GenerateDataOptions = {},
): Promise<TableRows[]> {
  const counts = rowCounts(rows);
  const { log, vacuum = true } = options;
  const b = counts.businesses;
  const c = counts.customers;

  const steps: { table: (typeof GENERATED_TABLES)[number]; sql: string; params: number[] }[] = [
    { table: 'tenant_mgmt.businesses', sql: businessesSql(), params: [b] },
    { table: 'user_mgmt.users', sql: usersSql(), params: [counts.users, b] },
    { table: 'hs.customers', sql: customersSql(), params: [c, b] },
    { table: 'hs.work_orders', sql: workOrdersSql(), params: [counts.workOrders, c, b] },
    { table: 'hs.customer_equipment', sql: customerEquipmentSql(), params: [counts.customerEquipment, c, b] },
    { table: 'auto.repair_orders', sql: repairOrdersSql(), params: [counts.repairOrders, c, b] },
  ];

  const result: TableRows[] = [];
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL statement_timeout = 0`);
    await client.query(`SET LOCAL synchronous_commit = off`);
    await timed(log, `truncated ${GENERATED_TABLES.join(', ')}`, () =>
      client.query(`TRUNCATE ${GENERATED_TABLES.join(', ')} CASCADE`),
    );
    await client.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    const deferred = await timed(log, 'dropped keys and indexes for the load', () => dropKeysAndIndexes(client));
    for (const step of steps) {
      const inserted = await timed(log, `inserted ${step.table}`, async () => {
        if (step.params[0] === 0) return 0;
        const res = await client.query(step.sql, step.params);
        return res.rowCount ?? 0;
      });
      result.push({ table: step.table, rows: inserted });
    }
    await timed(log, `re-created ${deferred.length} keys and indexes (foreign keys validated)`, async () => {
      for (const { sql } of deferred) await client.query(sql);
    });
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }

  if (vacuum) {
    await timed(log, 'vacuum analyze', () => client.query(`VACUUM (ANALYZE) ${GENERATED_TABLES.join(', ')}`));
  }
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      'database-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const usage = 'usage: tsx scripts/generate-data.ts --rows N [--database-url URL]';
  if (values.help) {
    console.log(usage);
    return;
  }
  if (values.rows === undefined || !/^[1-9][0-9]*$/.test(values.rows)) {
    throw new Error(`--rows must be a positive integer\n${usage}`);
  }
  const rows = Number(values.rows);
  const connectionString =
    values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

  const client = new pg.Client({ connectionString, application_name: 'generate-data' });
  await client.connect();
  try {
    const start = performance.now();
    const tables = await generateData(client, rows, { log: (line) => console.log(line) });
    const seconds = (performance.now() - start) / 1000;
    for (const { table, rows: n } of tables) {
      console.log(`${table.padEnd(24)} ${n.toLocaleString('en-US').padStart(12)} rows`);
    }
    const total = tables.reduce((sum, t) => sum + t.rows, 0);
    console.log(`generated ${total.toLocaleString('en-US')} rows for ${rows.toLocaleString('en-US')} customers in ${seconds.toFixed(2)} s`);
  } finally {
    await client.end();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
