/** The processors tcpotel ships (aggregate is exported from its own folder). */
export { filterProcessorFactory } from './filter/factory.js';
export { sampleProcessorFactory } from './sample/factory.js';
export { batchProcessorFactory } from './batch/factory.js';
export { attributesProcessorFactory } from './attributes/factory.js';
export { resourceProcessorFactory } from './resource/factory.js';
export { processProcessorFactory } from './process/factory.js';
export { parseContainerId, parseCgroup } from './process/cgroup.js';
