// Building the page from data without ever parsing it as HTML: every text goes in as text, so
// nothing a patient or the clinical system wrote can run as script or change the page.

const SVG = 'http://www.w3.org/2000/svg';

function fill(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.setAttribute('class', value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: `h('button', {onclick}, 'Release')`. */
export function h(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** An SVG element. */
export function s(tag, attributes, ...children) {
  return fill(document.createElementNS(SVG, tag), attributes, children);
}

/** A table with a header row; cells are nodes or text. */
export function table(caption, headers, rows) {
  return h('table', {},
    caption ? h('caption', { class: 'hint' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))));
}

/** A definition list of label and value pairs; empty values are shown as "—". */
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value ?? '—')]));
}

let fieldCount = 0;

/** A labelled form control: `field('Comment', 'textarea', {name: 'comment'})`. */
export function field(label, tag, attributes = {}, ...children) {
  const id = attributes.id || `field-${++fieldCount}`;
  const control = h(tag, { ...attributes, id }, ...children);
  const hint = attributes['data-hint'];
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    control);
}

/** A `<select>` of [value, label] pairs. */
export function options(pairs, selected) {
  return pairs.map(([value, label]) => h('option', { value, selected: value === selected }, label));
}

/** A live region that announces what just happened. */
export function statusLine() {
  const line = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  line.show = (message, isError = false) => {
    line.classList.toggle('error', isError);
    line.textContent = message;
  };
  return line;
}

/** Runs `action` with the button disabled; shows what it returns, or the error, on `line`. */
export async function busy(button, line, action) {
  button.disabled = true;
  try {
    const message = await action();
    if (message) line.show(message);
  } catch (error) {
    line.show(error.message || String(error), true);
  } finally {
    button.disabled = false;
  }
}

/** A patient's name as the practice writes it. */
export function fullName(person) {
  return `${person.given_name} ${person.family_name}`;
}

/** An NHS number in its 3-3-4 form. */
export function nhs(number) {
  return number && number.length === 10
    ? `${number.slice(0, 3)} ${number.slice(3, 6)} ${number.slice(6)}` : number;
}

/** A date or instant for people: "5 Dec 2026" or "5 Dec 2026, 14:05". */
export function when(value, withTime = false) {
  if (!value) return '—';
  const date = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  const options = { day: 'numeric', month: 'short', year: 'numeric', timeZone: withTime ? undefined : 'UTC' };
  if (withTime) Object.assign(options, { hour: '2-digit', minute: '2-digit' });
  return date.toLocaleString('en-GB', options);
}

/** Words for a snake_case code. */
export function words(code) {
  if (!code) return '—';
  const text = String(code).replaceAll('_', ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}
