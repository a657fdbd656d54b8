// Public API of the merge folder: a trained adapter merged into its base model, written as a model directory.
export { MERGE_RECORD_FILE, type MergeRecord, type MergeResult, mergeAdapter } from './merge-adapter.js';
