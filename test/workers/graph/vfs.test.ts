import test from 'ava';
import { VfsDriver } from '../../../workers/graph/drivers/vfs.js';
import { conformance } from './conformance.js';

conformance(test, 'vfs', () => new VfsDriver());
