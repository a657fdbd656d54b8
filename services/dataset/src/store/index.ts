export { ArtefactStore } from './artefacts.js';
export { type DatabaseConfig, type DatasetDb, openDatabase } from './db.js';
export * from './records.js';
