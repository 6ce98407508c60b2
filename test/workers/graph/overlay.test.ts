import test from 'ava';
import { OverlayDriver } from '../../../workers/graph/drivers/overlay.js';
import { conformance } from './conformance.js';

conformance(test, 'overlay2', () => new OverlayDriver());
