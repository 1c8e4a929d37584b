// Public entry point of @collab/client.
export { CollabClient, randomClientId } from './client.js';
export { Doc } from './doc.js';
export { type, diff, cpLength } from './ot.js';
