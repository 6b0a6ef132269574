// The review queue (`/practice/review`): results and letters waiting for a clinician, each
// with what is needed to decide — a result's value, reference range and trend, a letter's body
// — and Release (with an optional comment for the patient), Withhold (with a reason) and, on
// the Released tab, Retract.

import { api, download } from './api.js';
import { busy, facts, field, fullName, h, nhs, options, s, statusLine, table, when, words } from './dom.js';

const WITHHOLD_REASONS = [
  ['third_party', 'Third-party information'],
  ['serious_harm', 'Risk of serious harm'],
];

function range(result) {
  if (result.range_text) return result.range_text;
  const unit = result.unit ? ` ${result.unit}` : '';
  if (result.range_low != null && result.range_high != null) return `${result.range_low}–${result.range_high}${unit}`;
  if (result.range_low != null) return `≥ ${result.range_low}${unit}`;
  if (result.range_high != null) return `≤ ${result.range_high}${unit}`;
  return '—';
}

function flag(code) {
  return h('span', { class: `flag-${code}` }, words(code));
}

/** A small line chart of the numeric values, oldest left, with the reference range shaded. */
function trendChart(points, result) {
  const numeric = points.filter((p) => p.numeric_value != null).reverse();
  if (numeric.length < 2) return null;
  const width = 320; const height = 120; const pad = 28;
  const values = numeric.map((p) => p.numeric_value)
    .concat([result.range_low, result.range_high].filter((v) => v != null));
  const low = Math.min(...values); const high = Math.max(...values);
  const span = high - low || 1;
  const x = (i) => pad + (i * (width - 2 * pad)) / (numeric.length - 1);
  const y = (v) => height - pad - ((v - low) * (height - 2 * pad)) / span;
  const label = `Trend of ${numeric.length} values from ${when(numeric[0].effective_date)} to `
    + `${when(numeric[numeric.length - 1].effective_date)}`;
  return s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    result.range_low != null && result.range_high != null
      ? s('rect', { x: pad, y: y(result.range_high), width: width - 2 * pad,
        height: Math.max(1, y(result.range_low) - y(result.range_high)), fill: '#e8f1f8' }) : null,
    s('polyline', { fill: 'none', stroke: '#005eb8', 'stroke-width': 2,
      points: numeric.map((p, i) => `${x(i)},${y(p.numeric_value)}`).join(' ') }),
    numeric.map((p, i) => s('circle', { cx: x(i), cy: y(p.numeric_value), r: 3, fill: '#003087' })),
    s('text', { x: 2, y: y(high) + 4 }, String(high)),
    s('text', { x: 2, y: y(low) + 4 }, String(low)));
}

function resultDetails(item, line) {
  const result = item.result;
  const trendArea = h('div', {});
  const show = h('button', { type: 'button', class: 'secondary' }, 'Show trend');
  show.addEventListener('click', () => busy(show, line, async () => {
    const points = await api('GET', `/api/v1/practice/results/${item.id}/trend`);
    trendArea.replaceChildren(
      trendChart(points, result) || h('p', { class: 'hint' }, 'No earlier numeric values.'),
      table(`Every ${item.title} result of this patient, newest first`,
        ['Date', 'Value', 'Flag', 'Review'],
        points.map((p) => [when(p.effective_date), `${p.value}${p.unit ? ` ${p.unit}` : ''}`,
          flag(p.abnormal_flag), words(p.review_state)])));
    show.remove();
  }));
  return [
    table(null, ['Value', 'Reference range', 'Flag', 'Requested by'],
      [[`${result.value}${result.unit ? ` ${result.unit}` : ''}`, range(result), flag(result.abnormal_flag),
        result.requester || '—']]),
    show, trendArea,
  ];
}

function letterDetails(item, line) {
  const doc = item.document;
  const bodyArea = h('div', {});
  const show = h('button', { type: 'button', class: 'secondary' }, 'Show letter');
  show.addEventListener('click', () => busy(show, line, async () => {
    const response = await api('GET', `/api/v1/practice/documents/${item.id}/content`, undefined, { raw: true });
    if (doc.content_type.startsWith('text/')) {
      bodyArea.replaceChildren(h('pre', { class: 'letter', tabindex: 0, 'aria-label': `Body of ${item.title}` },
        await response.text()));
    } else {
      await download(response, `${item.title}`);
      bodyArea.replaceChildren(h('p', { class: 'hint' }, `Downloaded (${doc.content_type}).`));
    }
    show.remove();
  }));
  return [
    facts([['Type', words(doc.document_type)], ['From', doc.author_organisation],
      ['Format', doc.content_type], ['Size', `${Math.ceil(doc.size_bytes / 1024)} KB`]]),
    show, bodyArea,
  ];
}

function decisions(item, card, line, released) {
  const kind = item.kind === 'result' ? 'results' : 'documents';
  const decide = async (button, verb, body, past) => busy(button, line, async () => {
    await api('POST', `/api/v1/practice/${kind}/${item.id}/${verb}`, body);
    card.remove();
    return `${past}: ${item.title} for ${fullName(item.patient)}.`;
  });
  if (released) {
    const reason = field('Reason for retraction', 'textarea', { name: 'retraction_reason', required: true,
      'data-hint': 'Recorded for the practice; never shown to the patient.' });
    const retract = h('button', { type: 'button', class: 'warning' }, 'Retract');
    retract.addEventListener('click', () => decide(retract, 'retract',
      { reason: reason.querySelector('textarea').value }, 'Retracted'));
    return h('div', {}, reason, retract);
  }
  const comment = field('Comment for the patient (optional)', 'textarea', { name: 'comment',
    'data-hint': 'For example "Normal – no action". Shown to the patient with the item.' });
  const release = h('button', { type: 'button' }, 'Release');
  release.addEventListener('click', () => decide(release, 'release',
    { comment: comment.querySelector('textarea').value }, 'Released'));
  const reason = field('Reason for withholding', 'select', { name: 'withhold_reason' },
    options(WITHHOLD_REASONS));
  const withhold = h('button', { type: 'button', class: 'warning' }, 'Withhold');
  withhold.addEventListener('click', () => decide(withhold, 'withhold',
    { reason: reason.querySelector('select').value }, 'Withheld'));
  return h('div', {},
    h('fieldset', {}, h('legend', {}, 'Release to the patient'), comment, release),
    h('fieldset', {}, h('legend', {}, 'Withhold from the patient'), reason, withhold));
}

function card(item, line, released) {
  const headingId = `item-${item.id}`;
  const article = h('article', { class: 'card', 'aria-labelledby': headingId, 'data-item': item.id });
  article.append(...[
    h('h2', { id: headingId }, `${item.title} — ${fullName(item.patient)}`),
    facts([
      ['Patient', h('a', { href: `/practice/patients/${item.patient.id}` }, fullName(item.patient))],
      ['NHS number', nhs(item.patient.nhs_number)],
      ['Born', when(item.patient.date_of_birth)],
      ['Dated', when(item.effective_date)],
      ['Received', when(item.received_at, true)],
    ]),
    item.result ? resultDetails(item, line) : letterDetails(item, line),
    decisions(item, article, line, released),
  ].flat());
  return article;
}

export async function render(main, { params }) {
  const released = params.get('status') === 'released';
  const line = statusLine();
  main.append(h('h1', {}, 'Review queue'),
    h('ul', { class: 'tabs' },
      h('li', {}, h('a', { href: '/practice/review', 'aria-current': released ? null : 'page' }, 'Waiting for review')),
      h('li', {}, h('a', { href: '/practice/review?status=released', 'aria-current': released ? 'page' : null }, 'Released'))),
    line);
  const list = h('div', {});
  main.append(list);
  let after = params.get('after');
  const more = h('button', { type: 'button', class: 'secondary' }, 'More');
  const load = async () => {
    const query = new URLSearchParams({ status: released ? 'released' : 'pending' });
    if (after) query.set('after', after);
    const page = await api('GET', `/api/v1/practice/review-queue?${query}`);
    for (const item of page.items) list.append(card(item, line, released));
    if (!list.children.length) list.append(h('p', {}, released ? 'Nothing released yet.' : 'Nothing is waiting for review.'));
    after = page.next_cursor;
    more.hidden = !after;
  };
  more.addEventListener('click', () => busy(more, line, load));
  main.append(more);
  await load();
}
