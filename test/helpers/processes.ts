export { ROOT, freePort, sleep, startProcess, startRedis, waitFor, type Proc } from '../../scripts/processes.js';
