/** The Dawn toggles slmkit asks for in Node (gpu.ts): robustness off unless asked for, extras appended. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dawnFlags } from '../../src/backend/webgpu/gpu.js';

test('Dawn toggles: bounds checks off by default, back on with SLM_WEBGPU_ROBUSTNESS=1, SLM_DAWN_TOGGLES appended', () => {
  assert.deepEqual(dawnFlags({}), [
    'enable-dawn-features=vulkan_enable_f16_on_nvidia,allow_unsafe_apis,disable_robustness',
  ]);
  assert.deepEqual(dawnFlags({ SLM_WEBGPU_ROBUSTNESS: '1' }), [
    'enable-dawn-features=vulkan_enable_f16_on_nvidia,allow_unsafe_apis',
  ]);
  assert.deepEqual(dawnFlags({ SLM_WEBGPU_ROBUSTNESS: '1', SLM_DAWN_TOGGLES: 'disable_workgroup_init,' }), [
    'enable-dawn-features=vulkan_enable_f16_on_nvidia,allow_unsafe_apis,disable_workgroup_init',
  ]);
});
