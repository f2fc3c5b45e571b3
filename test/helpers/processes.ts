export { ROOT, freePort, sleep, startProcess, PrivateRedis, waitFor, type Proc } from '../../scripts/processes.js';
