// Appointments (`/practice/appointments`): the diary of a week (or any range up to 31 days)
// with each slot's booking; publish new slots, cancel a slot (its booking is cancelled and the
// patient told), move a booking to another open slot.

import { api } from './api.js';
import { busy, field, fullName, h, options, statusLine, when, words } from './dom.js';

const CHANNELS = [['in_person', 'In person'], ['telephone', 'Telephone'], ['video', 'Video']];

function time(value) {
  return new Date(value).toLocaleString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function publishForm(line, me) {
  const today = new Date().toISOString().slice(0, 10);
  const submit = h('button', { type: 'submit' }, 'Publish slots');
  const form = h('form', { 'aria-labelledby': 'publish-heading' },
    h('h2', { id: 'publish-heading' }, 'Publish slots'),
    field('Day', 'input', { type: 'date', name: 'day', value: today, required: true }),
    field('First slot starts at', 'input', { type: 'time', name: 'start', value: '09:00', required: true }),
    field('Minutes each', 'input', { type: 'number', name: 'minutes', value: 10, min: 5, max: 120, required: true }),
    field('Number of slots', 'input', { type: 'number', name: 'count', value: 6, min: 1, max: 48, required: true }),
    field('Clinician', 'input', { name: 'clinician', value: me.display_name, required: true }),
    field('Slot type', 'input', { name: 'slot_type', value: 'GP appointment', required: true }),
    field('Location', 'input', { name: 'location', value: me.practice_name, required: true }),
    field('How', 'select', { name: 'channel' }, options(CHANNELS)),
    submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(submit, line, async () => {
      const f = form.elements;
      const first = new Date(`${f.day.value}T${f.start.value}`);
      const minutes = Number(f.minutes.value);
      const slots = Array.from({ length: Number(f.count.value) }, (_, i) => {
        const starts = new Date(first.getTime() + i * minutes * 60000);
        return {
          starts_at: starts.toISOString(), ends_at: new Date(starts.getTime() + minutes * 60000).toISOString(),
          clinician_name: f.clinician.value, slot_type: f.slot_type.value,
          location: f.location.value, channel: f.channel.value,
        };
      });
      const published = await api('POST', '/api/v1/practice/slots', { slots });
      setTimeout(() => location.reload(), 800);
      return `Published ${published.slots ? published.slots.length : slots.length} slots.`;
    });
  });
  return form;
}

function slotActions(slot, openSlots, line) {
  if (slot.status !== 'open') return '—';
  const area = h('div', {});
  const cancel = h('details', {}, h('summary', {}, 'Cancel slot'));
  const reason = field('Reason (shown to a booked patient)', 'input', { name: 'reason', required: true });
  const cancelButton = h('button', { type: 'button', class: 'warning' }, 'Cancel this slot');
  cancelButton.addEventListener('click', () => busy(cancelButton, line, async () => {
    await api('POST', `/api/v1/practice/slots/${slot.id}/cancel`, { reason: reason.querySelector('input').value });
    setTimeout(() => location.reload(), 800);
    return `Cancelled the slot at ${time(slot.starts_at)}.`;
  }));
  cancel.append(reason, cancelButton);
  area.append(cancel);
  if (slot.booking) {
    const move = h('details', {}, h('summary', {}, 'Move'));
    const target = field('Move to', 'select', { name: 'to' },
      options(openSlots.map((s) => [s.id, `${time(s.starts_at)} — ${s.clinician_name}`])));
    const moveButton = h('button', { type: 'button' }, 'Move booking');
    moveButton.addEventListener('click', () => busy(moveButton, line, async () => {
      await api('POST', `/api/v1/practice/appointments/${slot.booking.appointment_id}/move`,
        { slot_id: target.querySelector('select').value });
      setTimeout(() => location.reload(), 800);
      return `Moved ${fullName(slot.booking.patient)}'s appointment.`;
    }));
    move.append(target, moveButton);
    area.append(move);
  }
  return area;
}

export async function render(main, { params, me }) {
  const line = statusLine();
  const from = params.get('from') || new Date().toISOString().slice(0, 10);
  const to = params.get('to') || new Date(Date.parse(`${from}T00:00:00Z`) + 7 * 86400000).toISOString().slice(0, 10);
  const range = h('form', { method: 'get' },
    field('From', 'input', { type: 'date', name: 'from', value: from }),
    field('Until (not included)', 'input', { type: 'date', name: 'to', value: to }),
    h('button', { type: 'submit', class: 'secondary' }, 'Show diary'));
  const slots = await api('GET', `/api/v1/practice/slots?from=${from}&to=${to}`);
  const openSlots = slots.filter((s) => s.status === 'open' && !s.booking && Date.parse(s.starts_at) > Date.now());
  main.append(h('h1', {}, 'Appointments'), line, range,
    h('h2', {}, `Diary, ${when(from)} to ${when(to)}`),
    slots.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['Time', 'Clinician', 'Type', 'How', 'Status', 'Booked by', 'Action'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, slots.map((s) => h('tr', { 'data-slot': s.id },
        h('td', {}, time(s.starts_at)), h('td', {}, s.clinician_name), h('td', {}, s.slot_type),
        h('td', {}, words(s.channel)), h('td', {}, words(s.status)),
        h('td', {}, s.booking ? `${fullName(s.booking.patient)}${s.booking.booked_by_proxy ? ' (by a proxy)' : ''}` : '—'),
        h('td', {}, slotActions(s, openSlots, line))))))
      : h('p', {}, 'No slots in these days.'),
    publishForm(line, me));
}
