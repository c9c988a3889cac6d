/** Reading and writing model weights: safetensors files and Hugging Face (sharded) checkpoints. */

export { writeFileAtomic } from './atomic.js';
export {
  bf16ArrayToFloat32,
  bf16ToFloat32,
  f16ArrayToFloat32,
  f16ToFloat32,
  float32ArrayToBf16,
  float32ArrayToF16,
  float32ToBf16,
  float32ToF16,
} from './half.js';
export {
  openSafetensors,
  type RawTensor,
  SafetensorsFile,
  type TensorInfo as SafetensorsTensorInfo,
  type TensorReader,
} from './safetensors.js';
export {
  DTYPE_BYTES,
  isSafetensorsDType,
  SAFETENSORS_DTYPES,
  type SafetensorsDType,
} from './safetensors-dtype.js';
export { MAX_HEADER_BYTES } from './safetensors-header.js';
export {
  type TensorData,
  type TensorToWrite,
  tensorByteLength,
  writeSafetensors,
} from './safetensors-write.js';
export {
  DEFAULT_MAX_SHARD_BYTES,
  openCheckpoint,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  ShardedCheckpoint,
  shardFileName,
  type WriteCheckpointOptions,
  writeCheckpoint,
} from './sharded.js';
