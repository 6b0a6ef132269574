// Prescriptions (`/practice/prescriptions`): the practice's repeat prescription requests, those
// past a review date first, each requested course with Approve and Reject (with a reason the
// patient sees).

import { api } from './api.js';
import { busy, facts, field, fullName, h, nhs, options, statusLine, when, words } from './dom.js';

const STATUSES = [['requested', 'Waiting'], ['approved', 'Approved'], ['rejected', 'Rejected'], ['cancelled', 'Cancelled']];

function course(request, item, line) {
  const row = h('li', { 'data-item': item.id }, h('strong', {}, item.medication), ` — ${words(item.status)}`,
    item.routed_to_clinician ? ' (past its review date: for a clinician)' : '',
    item.rejection_reason ? ` — ${item.rejection_reason}` : '');
  if (item.status !== 'requested') return row;
  const reason = field(`Reason for rejecting ${item.medication}`, 'input', { name: 'rejection_reason',
    'data-hint': 'Shown to the patient.' });
  const approve = h('button', { type: 'button' }, 'Approve');
  const reject = h('button', { type: 'button', class: 'warning' }, 'Reject');
  const path = `/api/v1/practice/prescription-requests/${request.id}/items/${item.id}`;
  approve.addEventListener('click', () => busy(approve, line, async () => {
    await api('POST', `${path}/approve`);
    row.replaceChildren(h('strong', {}, item.medication), ' — Approved');
    return `Approved ${item.medication} for ${fullName(request.patient)}.`;
  }));
  reject.addEventListener('click', () => busy(reject, line, async () => {
    await api('POST', `${path}/reject`, { reason: reason.querySelector('input').value });
    row.replaceChildren(h('strong', {}, item.medication), ' — Rejected');
    return `Rejected ${item.medication} for ${fullName(request.patient)}.`;
  }));
  row.append(h('div', {}, approve, reason, reject));
  return row;
}

export async function render(main, { params }) {
  const status = params.get('status') || 'requested';
  const line = statusLine();
  const filter = h('form', { method: 'get' },
    field('Show requests', 'select', { name: 'status' }, options(STATUSES, status)),
    h('button', { type: 'submit', class: 'secondary' }, 'Show'));
  main.append(h('h1', {}, 'Prescriptions'), filter, line);
  const requests = await api('GET', `/api/v1/practice/prescription-requests?status=${encodeURIComponent(status)}`);
  if (!requests.length) main.append(h('p', {}, 'No requests.'));
  for (const request of requests) {
    const headingId = `request-${request.id}`;
    main.append(h('article', { class: 'card', 'aria-labelledby': headingId, 'data-request': request.id },
      h('h2', { id: headingId }, `${fullName(request.patient)} — ${when(request.created_at, true)}`),
      facts([
        ['NHS number', nhs(request.patient.nhs_number)],
        ['Ordered by', request.requested_by_proxy ? 'A proxy' : 'The patient'],
        ['Pharmacy', request.pharmacy_ods],
        ['Note', request.note],
      ]),
      h('ul', {}, request.items.map((item) => course(request, item, line)))));
  }
}
