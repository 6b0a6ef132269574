// Messages (`/practice/messages`): the practice's threads, unread first; opening one shows
// every message, with Send reply and Close thread.

import { api } from './api.js';
import { busy, field, fullName, h, nhs, options, statusLine, when, words } from './dom.js';

function sender(message) {
  if (message.sender === 'staff') return message.sender_name || 'The practice';
  return message.sender === 'proxy' ? `${message.sender_name || 'A proxy'} (proxy)` : (message.sender_name || 'The patient');
}

async function openThread(area, id, line) {
  const thread = await api('GET', `/api/v1/practice/messages/${id}`);
  const reply = field('Reply', 'textarea', { name: 'reply', 'data-hint': 'The patient is told a reply is waiting; the text is not in the notification.' });
  const send = h('button', { type: 'button' }, 'Send reply');
  const close = h('button', { type: 'button', class: 'secondary' }, 'Close thread');
  send.addEventListener('click', () => busy(send, line, async () => {
    await api('POST', `/api/v1/practice/messages/${id}`, { body: reply.querySelector('textarea').value });
    await openThread(area, id, line);
    return 'Reply sent.';
  }));
  close.addEventListener('click', () => busy(close, line, async () => {
    await api('POST', `/api/v1/practice/messages/${id}/close`);
    await openThread(area, id, line);
    return 'Thread closed.';
  }));
  const open = thread.status === 'open';
  area.replaceChildren(h('section', { class: 'card', 'aria-labelledby': 'thread-heading', 'data-thread': id },
    h('h2', { id: 'thread-heading', tabindex: -1 }, thread.subject || '(no subject)'),
    h('p', {}, `${fullName(thread.patient)}, NHS number ${nhs(thread.patient.nhs_number)} — ${words(thread.status)}`),
    h('ol', { class: 'messages' }, thread.messages.map((m) => h('li', {},
      h('p', {}, h('strong', {}, sender(m)), ` — ${when(m.sent_at, true)}`),
      h('p', { class: 'message-body' }, m.body)))),
    open ? [reply, send, close] : h('p', {}, 'This thread is closed.')));
  area.querySelector('h2').focus();
}

export async function render(main, { params }) {
  const status = params.get('status') || 'open';
  const line = statusLine();
  const filter = h('form', { method: 'get' },
    field('Show threads', 'select', { name: 'status' }, options([['open', 'Open'], ['closed', 'Closed']], status)),
    h('button', { type: 'submit', class: 'secondary' }, 'Show'));
  const threads = await api('GET', `/api/v1/practice/messages?status=${encodeURIComponent(status)}`);
  const area = h('div', {});
  const rows = threads.map((t) => {
    const button = h('button', { type: 'button', class: 'secondary' }, `Open “${t.subject || '(no subject)'}”`);
    button.addEventListener('click', () => busy(button, line, () => openThread(area, t.id, line)));
    return h('tr', { 'data-thread': t.id },
      h('td', {}, t.subject || '(no subject)'), h('td', {}, fullName(t.patient)),
      h('td', {}, t.started_by === 'proxy' ? 'Proxy' : words(t.started_by)),
      h('td', { class: 'number' }, String(t.unread_count)), h('td', {}, when(t.last_message_at, true)),
      h('td', {}, button));
  });
  main.append(h('h1', {}, 'Messages'), filter, line,
    threads.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['Subject', 'Patient', 'Started by', 'Unread', 'Last message', 'Action'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)) : h('p', {}, 'No threads.'),
    area);
}
