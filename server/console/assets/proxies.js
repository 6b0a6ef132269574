// Proxy access (`/practice/proxies`): grants waiting for review (age reviews, 16th
// birthdays); for a chosen patient, every grant and refusal with Change, Revoke and Review, and
// the form that records a new decision (granted or refused) with its legal basis, scopes and
// dates. Admins decide; clinicians see.

import { api } from './api.js';
import { busy, field, fullName, h, nhs, options, statusLine, table, when, words } from './dom.js';
import { patientSearch } from './patients.js';

const SCOPES = ['appointments', 'prescriptions', 'messages', 'record_summary', 'record_detailed', 'documents'];
const BASES = [
  ['patient_consent', 'Patient consent'],
  ['parental_responsibility', 'Parental responsibility'],
  ['lasting_power_of_attorney', 'Lasting power of attorney'],
  ['court_appointed_deputy', 'Court-appointed deputy'],
  ['best_interests', 'Best interests'],
];
const REVOKE_REASONS = [
  ['patient_request', 'The patient asked'], ['proxy_request', 'The proxy asked'],
  ['relationship_ended', 'Relationship ended'], ['safeguarding', 'Safeguarding'],
  ['legal_basis_ended', 'Legal basis ended'], ['other', 'Other'],
];

function scopeBoxes(legend, chosen = []) {
  return h('fieldset', {}, h('legend', {}, legend),
    SCOPES.map((scope) => h('label', { class: 'inline' },
      h('input', { type: 'checkbox', name: 'scopes', value: scope, checked: chosen.includes(scope) }), words(scope))));
}

function checkedScopes(container) {
  return [...container.querySelectorAll('input[name=scopes]:checked')].map((box) => box.value);
}

function proxyName(grant) {
  return grant.proxy_name ? `${grant.proxy_name.given_name} ${grant.proxy_name.family_name}` : 'Unknown';
}

function grantActions(grant, line, reload) {
  if (!['active', 'suspended'].includes(grant.status)) return '—';
  const area = h('div', {});
  const change = h('details', {}, h('summary', {}, 'Change'));
  const scopes = scopeBoxes(`Scopes for ${proxyName(grant)}`, grant.scopes);
  const ends = field('Ends on', 'input', { type: 'date', name: 'ends_on', value: grant.ends_on || '' });
  const save = h('button', { type: 'button' }, 'Save changes');
  save.addEventListener('click', () => busy(save, line, async () => {
    const body = { scopes: checkedScopes(change) };
    const endsOn = ends.querySelector('input').value;
    if (endsOn) body.ends_on = endsOn;
    await api('PATCH', `/api/v1/practice/proxy-grants/${grant.id}`, body);
    await reload();
    return `Changed ${proxyName(grant)}'s access.`;
  }));
  change.append(scopes, ends, save);
  const revoke = h('details', {}, h('summary', {}, 'Revoke'));
  const reason = field('Reason', 'select', { name: 'revoke_reason' }, options(REVOKE_REASONS));
  const revokeButton = h('button', { type: 'button', class: 'warning' }, 'Revoke access');
  revokeButton.addEventListener('click', () => busy(revokeButton, line, async () => {
    await api('POST', `/api/v1/practice/proxy-grants/${grant.id}/revoke`, { reason: reason.querySelector('select').value });
    await reload();
    return `Revoked ${proxyName(grant)}'s access.`;
  }));
  revoke.append(reason, revokeButton);
  area.append(change, revoke);
  if (grant.status === 'suspended') area.append(reviewForm(grant, line, reload));
  return area;
}

function reviewForm(grant, line, reload) {
  const review = h('details', {}, h('summary', {}, 'Review'));
  const consent = h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'consent' }),
    'The young person consents to this access continuing');
  const lift = h('button', { type: 'button' }, 'Lift suspension');
  lift.addEventListener('click', () => busy(lift, line, async () => {
    await api('POST', `/api/v1/practice/proxy-grants/${grant.id}/review`,
      { young_person_consent: consent.querySelector('input').checked });
    await reload();
    return `Reviewed ${proxyName(grant)}'s access.`;
  }));
  review.append(consent, lift);
  return review;
}

function decisionForm(patient, line, reload) {
  let proxyPatient = null;
  const chosen = h('p', { 'aria-live': 'polite' }, 'No proxy chosen yet.');
  const form = h('form', { 'aria-labelledby': 'decision-heading' });
  const search = patientSearch(line, (p) => {
    proxyPatient = p;
    chosen.textContent = `Proxy: ${fullName(p)}, NHS number ${nhs(p.nhs_number)}`;
  }, 'Find the proxy among the practice’s patients (NHS number or name)');
  const carer = h('fieldset', {}, h('legend', {}, 'Or a carer who is not a patient here'),
    field('Carer’s given name', 'input', { name: 'carer_given' }),
    field('Carer’s family name', 'input', { name: 'carer_family' }),
    field('Carer’s date of birth', 'input', { type: 'date', name: 'carer_dob' }));
  const today = new Date().toISOString().slice(0, 10);
  const submit = h('button', { type: 'submit' }, 'Record decision');
  form.append(
    field('Relationship', 'input', { name: 'relationship', required: true, 'data-hint': 'For example mother, son, carer.' }),
    field('Legal basis', 'select', { name: 'legal_basis' }, options(BASES)),
    scopeBoxes('Scopes'),
    field('Starts on', 'input', { type: 'date', name: 'starts_on', value: today, required: true }),
    field('Ends on', 'input', { type: 'date', name: 'ends_on' }),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'no_end_date_exception' }),
      'No end date (a recorded exception)'),
    h('fieldset', {}, h('legend', {}, 'Decision'),
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'decision', value: 'granted', checked: true }), 'Granted'),
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'decision', value: 'refused' }), 'Refused')),
    field('Reason for refusing', 'textarea', { name: 'refusal_reason' }),
    submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(submit, line, async () => {
      const f = form.elements;
      const proxy = proxyPatient ? { patient_id: proxyPatient.id }
        : { carer: { given_name: carer.querySelector('[name=carer_given]').value,
          family_name: carer.querySelector('[name=carer_family]').value,
          date_of_birth: carer.querySelector('[name=carer_dob]').value } };
      const body = {
        patient_id: patient.id, proxy,
        relationship: f.relationship.value, legal_basis: f.legal_basis.value,
        scopes: checkedScopes(form), starts_on: f.starts_on.value,
        no_end_date_exception: f.no_end_date_exception.checked,
        decision: form.querySelector('input[name=decision]:checked').value,
      };
      if (f.ends_on.value) body.ends_on = f.ends_on.value;
      if (body.decision === 'refused') body.refusal_reason = f.refusal_reason.value;
      const grant = await api('POST', '/api/v1/practice/proxy-grants', body);
      await reload();
      return `Recorded: ${proxyName(grant)} — ${words(grant.status)}.`;
    });
  });
  return h('section', { 'aria-labelledby': 'decision-heading' },
    h('h2', { id: 'decision-heading' }, `Record a proxy decision for ${fullName(patient)}`),
    search, chosen, carer, form);
}

async function awaitingReview(line) {
  const waiting = await api('GET', '/api/v1/practice/proxy-reviews');
  return h('section', { 'aria-labelledby': 'waiting-heading' },
    h('h2', { id: 'waiting-heading' }, 'Waiting for review'),
    waiting.length ? table(null, ['Patient', 'Proxy', 'Why suspended', 'Started', 'Action'],
      waiting.map(({ patient, grant }) => [
        h('a', { href: `/practice/proxies?patient=${patient.id}` }, fullName(patient)),
        proxyName(grant), words(grant.suspended_reason), when(grant.starts_on),
        reviewForm(grant, line, async () => location.reload())]))
      : h('p', {}, 'Nothing is waiting for review.'));
}

export async function render(main, { params }) {
  const line = statusLine();
  main.append(h('h1', {}, 'Proxy access'), line);
  const patientId = params.get('patient');
  if (!patientId) {
    main.append(await awaitingReview(line),
      h('h2', {}, 'Choose a patient'),
      patientSearch(line, (p) => location.assign(`/practice/proxies?patient=${p.id}`)));
    return;
  }
  const overview = await api('GET', `/api/v1/practice/patients/${patientId}`);
  const patient = overview.patient;
  const grantsArea = h('div', {});
  const reload = async () => {
    const grants = await api('GET', `/api/v1/practice/patients/${patientId}/proxy-grants`);
    grantsArea.replaceChildren(grants.length
      ? table(null, ['Proxy', 'Relationship', 'Legal basis', 'Scopes', 'Status', 'From', 'Until', 'Action'],
        grants.map((g) => [proxyName(g), g.relationship, words(g.legal_basis), g.scopes.map(words).join(', '),
          words(g.status) + (g.suspended_reason ? ` (${words(g.suspended_reason)})` : ''),
          when(g.starts_on), g.ends_on ? when(g.ends_on) : 'No end date', grantActions(g, line, reload)]))
      : h('p', {}, 'No proxy access recorded.'));
  };
  await reload();
  main.append(
    h('p', {}, `For ${fullName(patient)}, NHS number ${nhs(patient.nhs_number)}. `,
      h('a', { href: '/practice/proxies' }, 'Choose another patient')),
    h('h2', {}, 'Grants and refusals'), grantsArea,
    decisionForm(patient, line, reload));
}
