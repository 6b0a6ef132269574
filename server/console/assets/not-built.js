// Pages whose server routes do not exist yet: they say so plainly instead of pretending.
import { h } from './dom.js';

export async function render(main, { page }) {
  main.append(
    h('h1', {}, page.title),
    h('p', {}, `${page.title} are not built yet: the server does not offer the routes this page needs.`),
    h('p', {}, 'Until then, use the clinical system for this task.'));
}
