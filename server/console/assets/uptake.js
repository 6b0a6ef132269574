// Uptake (`/practice/uptake`): patients registered for at least one online service against the
// 10% target, and month by month the bookings, orders, record views, messages, proxy grants and
// registrations — as SVG bar charts drawn here from the API's figures, as a table, and as CSV
// from the API itself.

import { api, download } from './api.js';
import { busy, h, s, statusLine, table } from './dom.js';

const SERIES = [
  ['registered_patients', 'Patients registered (end of month)'],
  ['bookings', 'Appointments booked online'],
  ['orders', 'Repeat prescriptions ordered'],
  ['record_views', 'Record views'],
  ['messages', 'Messages from patients and proxies'],
  ['proxy_grants', 'Proxy access granted'],
  ['registrations', 'New registrations'],
];

function monthLabel(month) {
  const [year, number] = month.split('-').map(Number);
  return new Date(Date.UTC(year, number - 1, 1)).toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' });
}

/** Registered share against the target, as one horizontal bar. */
function targetBar(report) {
  const width = 480; const height = 56; const scale = Math.max(20, report.target_percent * 2, report.registered_percent);
  const x = (percent) => 10 + ((width - 20) * Math.min(percent, scale)) / scale;
  return s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${report.registered_percent}% registered against a target of ${report.target_percent}%` },
  s('rect', { x: 10, y: 10, width: width - 20, height: 20, fill: '#f3f2f1', stroke: '#505a5f' }),
  s('rect', { class: 'bar', x: 10, y: 10, width: Math.max(0, x(report.registered_percent) - 10), height: 20 }),
  s('line', { class: 'target', x1: x(report.target_percent), x2: x(report.target_percent), y1: 4, y2: 36 }),
  s('text', { x: x(report.target_percent) + 4, y: 50 }, `Target ${report.target_percent}%`),
  s('text', { x: 10, y: 50 }, '0%'));
}

/** One metric month by month as vertical bars. */
function barChart(months, key, label) {
  const width = 560; const height = 160; const pad = 30;
  const values = months.map((m) => m[key]);
  const top = Math.max(1, ...values);
  const step = (width - 2 * pad) / months.length;
  const y = (v) => height - pad - ((height - 2 * pad) * v) / top;
  const id = `chart-${key}`;
  return h('figure', { class: 'chart', 'aria-labelledby': id },
    h('figcaption', { id }, label),
    s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `${label}: ${months.map((m) => `${m.month} ${m[key]}`).join(', ')}` },
    s('line', { class: 'axis', x1: pad, x2: width - pad, y1: height - pad, y2: height - pad }),
    s('text', { x: 2, y: y(top) + 4 }, String(top)),
    months.map((m, i) => [
      s('rect', { class: 'bar', x: pad + i * step + 3, y: y(m[key]), width: Math.max(2, step - 6), height: height - pad - y(m[key]) }),
      s('text', { x: pad + i * step + 3, y: height - pad + 14 }, monthLabel(m.month)),
    ])));
}

export async function render(main) {
  const line = statusLine();
  const report = await api('GET', '/api/v1/practice/uptake?months=12');
  const csv = h('button', { type: 'button', class: 'secondary' }, 'Download CSV');
  csv.addEventListener('click', () => busy(csv, line, async () => {
    await download(await api('GET', '/api/v1/practice/uptake?months=12&format=csv', undefined, { raw: true }), 'uptake.csv');
    return 'Downloaded uptake.csv.';
  }));
  main.append(h('h1', {}, 'Uptake'), line,
    h('p', { class: 'headline' }, `${report.registered_patients} of ${report.patients} patients `
      + `(${report.registered_percent}%) are registered for at least one online service; `
      + `the target is ${report.target_percent}% — ${report.target_met ? 'met' : 'not met yet'}.`),
    targetBar(report),
    h('h2', {}, 'Month by month'),
    ...SERIES.map(([key, label]) => barChart(report.months, key, label)),
    h('h2', {}, 'Figures'),
    table('Month by month, oldest first', ['Month'].concat(SERIES.map(([, label]) => label)),
      report.months.map((m) => [m.month].concat(SERIES.map(([key]) => String(m[key]))))),
    csv);
}
