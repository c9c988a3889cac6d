/** Validation of ModelConfig: every rule names the field and says why the value cannot work. */
import type { ModelConfig } from './model-config.js';

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid model config: ${field}: ${reason}`);
    this.name = 'ConfigError';
  }
}

function positiveInt(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(value)}`);
  }
}

function positive(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(field, `must be a positive number, got ${JSON.stringify(value)}`);
  }
}

function oneOf<T>(field: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value)) {
    throw new ConfigError(
      field,
      `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
}

function optionalPositive(field: string, value: number | null): void {
  if (value !== null) positive(field, value);
}

export function validateConfig(c: ModelConfig): void {
  positiveInt('vocabSize', c.vocabSize);
  positiveInt('hiddenSize', c.hiddenSize);
  positiveInt('numLayers', c.numLayers);
  positiveInt('numAttentionHeads', c.numAttentionHeads);
  positiveInt('numKeyValueHeads', c.numKeyValueHeads);
  positiveInt('headDim', c.headDim);
  positiveInt('intermediateSize', c.intermediateSize);
  positiveInt('maxPositionEmbeddings', c.maxPositionEmbeddings);
  if (c.numKeyValueHeads > c.numAttentionHeads) {
    throw new ConfigError(
      'numKeyValueHeads',
      `${c.numKeyValueHeads} is more than numAttentionHeads (${c.numAttentionHeads})`,
    );
  }
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    throw new ConfigError(
      'numKeyValueHeads',
      `numAttentionHeads (${c.numAttentionHeads}) must be a multiple of numKeyValueHeads (${c.numKeyValueHeads}) for grouped-query attention`,
    );
  }
  oneOf('hiddenAct', c.hiddenAct, ['relu', 'gelu', 'gelu_tanh', 'silu', 'relu2'] as const);
  oneOf('ffnType', c.ffnType, ['gated', 'standard'] as const);
  oneOf('norm.type', c.norm.type, ['rmsnorm', 'layernorm'] as const);
  positive('norm.eps', c.norm.eps);
  if (c.norm.plusOne && c.norm.type !== 'rmsnorm')
    throw new ConfigError('norm.plusOne', 'the (1 + w) form exists only for RMSNorm');
  if (c.norm.bias && c.norm.type !== 'layernorm')
    throw new ConfigError('norm.bias', 'only LayerNorm has a bias');
  oneOf('normPlacement', c.normPlacement, ['pre', 'sandwich', 'post'] as const);
  oneOf('blockTopology', c.blockTopology, ['sequential', 'parallel', 'parallel_two_norms'] as const);
  if (c.blockTopology !== 'sequential' && c.normPlacement !== 'pre') {
    throw new ConfigError(
      'blockTopology',
      `a parallel block needs normPlacement 'pre', got '${c.normPlacement}'`,
    );
  }
  oneOf('positionEmbedding', c.positionEmbedding, ['rope', 'learned', 'none'] as const);

  // Attention geometry.
  if (c.mla) {
    positiveInt('mla.kvLoraRank', c.mla.kvLoraRank);
    positiveInt('mla.qkNopeHeadDim', c.mla.qkNopeHeadDim);
    positiveInt('mla.qkRopeHeadDim', c.mla.qkRopeHeadDim);
    positiveInt('mla.vHeadDim', c.mla.vHeadDim);
    if (c.mla.qLoraRank !== null) positiveInt('mla.qLoraRank', c.mla.qLoraRank);
    if (c.mla.latentNormEps !== undefined) positive('mla.latentNormEps', c.mla.latentNormEps);
    if (c.mla.qkRopeHeadDim % 2 !== 0)
      throw new ConfigError('mla.qkRopeHeadDim', `must be even to rotate pairs, got ${c.mla.qkRopeHeadDim}`);
    if (c.numKeyValueHeads !== c.numAttentionHeads) {
      throw new ConfigError(
        'numKeyValueHeads',
        'MLA decompresses keys and values per head, so it must equal numAttentionHeads',
      );
    }
    if (c.positionEmbedding !== 'rope')
      throw new ConfigError('positionEmbedding', "MLA's decoupled key needs 'rope'");
    if (c.qkNorm)
      throw new ConfigError(
        'qkNorm',
        'MLA normalises its latents instead; q/k norm is not supported with MLA',
      );
    if (c.perLayer || c.layerScaling)
      throw new ConfigError('perLayer', 'per-layer head counts are not supported with MLA');
  }
  if (c.positionEmbedding === 'rope') {
    for (const [name, rope] of [['rope', c.rope] as const, ['ropeSliding', c.ropeSliding] as const]) {
      if (!rope) continue;
      positive(`${name}.theta`, rope.theta);
      const f = rope.partialRotaryFactor;
      if (!(f > 0 && f <= 1))
        throw new ConfigError(`${name}.partialRotaryFactor`, `must be in (0, 1], got ${f}`);
      const rotary = c.mla ? c.mla.qkRopeHeadDim : Math.floor(c.headDim * f);
      if (rotary % 2 !== 0 || rotary === 0) {
        throw new ConfigError(
          `${name}.partialRotaryFactor`,
          `headDim ${c.headDim} x ${f} = ${rotary} rotary dims; it must be a positive even number`,
        );
      }
      if (rope.scaling) {
        oneOf(`${name}.scaling.type`, rope.scaling.type, [
          'linear',
          'dynamic',
          'llama3',
          'yarn',
          'longrope',
        ] as const);
        positive(`${name}.scaling.factor`, rope.scaling.factor);
        if (rope.scaling.type === 'llama3' && !rope.scaling.originalMaxPositionEmbeddings) {
          throw new ConfigError(
            `${name}.scaling.originalMaxPositionEmbeddings`,
            'llama3 scaling needs the original context length',
          );
        }
        if (rope.scaling.type === 'longrope') {
          for (const key of ['shortFactor', 'longFactor'] as const) {
            const list = rope.scaling[key];
            if (!list || list.length !== rotary / 2) {
              throw new ConfigError(
                `${name}.scaling.${key}`,
                `longrope needs ${rotary / 2} factors (one per frequency), got ${list?.length ?? 0}`,
              );
            }
          }
        }
      }
    }
  }
  for (const layer of c.noRopeLayers) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= c.numLayers) {
      throw new ConfigError('noRopeLayers', `layer ${layer} does not exist (numLayers ${c.numLayers})`);
    }
  }

  if (c.layerTypes.length !== c.numLayers) {
    throw new ConfigError('layerTypes', `has ${c.layerTypes.length} entries for ${c.numLayers} layers`);
  }
  c.layerTypes.forEach((t, i) => {
    oneOf(`layerTypes[${i}]`, t, ['full', 'sliding'] as const);
  });
  if (c.layerTypes.includes('sliding')) {
    if (c.slidingWindow === null)
      throw new ConfigError(
        'slidingWindow',
        'sliding layers are declared in layerTypes but no window is set',
      );
    positiveInt('slidingWindow', c.slidingWindow);
  }
  optionalPositive('attentionScale', c.attentionScale);
  optionalPositive('attnLogitSoftcap', c.attnLogitSoftcap);
  optionalPositive('finalLogitSoftcap', c.finalLogitSoftcap);
  optionalPositive('embeddingScale', c.embeddingScale);
  optionalPositive('residualScale', c.residualScale);
  optionalPositive('logitScale', c.logitScale);

  if (c.qkNorm) {
    oneOf('qkNorm.type', c.qkNorm.type, ['rmsnorm', 'layernorm'] as const);
    oneOf('qkNorm.scope', c.qkNorm.scope, ['head', 'projection'] as const);
    if (c.qkNorm.scope === 'projection' && c.qkNorm.perHeadWeights) {
      throw new ConfigError('qkNorm.perHeadWeights', "per-head weights need scope 'head'");
    }
    if (c.qkNorm.bias && c.qkNorm.type !== 'layernorm')
      throw new ConfigError('qkNorm.bias', 'only LayerNorm has a bias');
  }

  if (c.perLayer) {
    for (const key of ['numAttentionHeads', 'numKeyValueHeads', 'intermediateSize'] as const) {
      const list = c.perLayer[key];
      if (list.length !== c.numLayers)
        throw new ConfigError(`perLayer.${key}`, `has ${list.length} entries for ${c.numLayers} layers`);
      list.forEach((v, i) => {
        positiveInt(`perLayer.${key}[${i}]`, v);
      });
    }
    c.perLayer.numAttentionHeads.forEach((h, i) => {
      const g = c.perLayer!.numKeyValueHeads[i]!;
      if (h % g !== 0) {
        throw new ConfigError(
          `perLayer.numKeyValueHeads[${i}]`,
          `layer ${i} has ${h} query heads, not a multiple of ${g} KV heads`,
        );
      }
    });
  }
  if (c.layerScaling) {
    const { qkvMultipliers: q, ffnMultipliers: f } = c.layerScaling;
    for (const [name, pair] of [['qkvMultipliers', q] as const, ['ffnMultipliers', f] as const]) {
      if (pair.length !== 2 || !(pair[0] > 0) || !(pair[1] >= pair[0])) {
        throw new ConfigError(
          `layerScaling.${name}`,
          `must be [min, max] with 0 < min <= max, got ${JSON.stringify(pair)}`,
        );
      }
    }
    positiveInt('layerScaling.numGqaGroups', c.layerScaling.numGqaGroups);
    positiveInt('layerScaling.ffnDimDivisor', c.layerScaling.ffnDimDivisor);
  }

  if (c.seriesActivation) positiveInt('seriesActivation.terms', c.seriesActivation.terms);
  if (c.augmentedShortcuts) {
    positiveInt('augmentedShortcuts.count', c.augmentedShortcuts.count);
    positiveInt('augmentedShortcuts.reduction', c.augmentedShortcuts.reduction);
    if (c.hiddenSize % c.augmentedShortcuts.reduction !== 0) {
      throw new ConfigError(
        'augmentedShortcuts.reduction',
        `hiddenSize ${c.hiddenSize} is not divisible by ${c.augmentedShortcuts.reduction}`,
      );
    }
  }
  if (c.layerSharing) {
    oneOf('layerSharing.mode', c.layerSharing.mode, ['immediate', 'cyclic'] as const);
    positiveInt('layerSharing.repeats', c.layerSharing.repeats);
  }
  if (c.moe) {
    positiveInt('moe.numExperts', c.moe.numExperts);
    positiveInt('moe.numExpertsPerToken', c.moe.numExpertsPerToken);
    positiveInt('moe.moeIntermediateSize', c.moe.moeIntermediateSize);
    if (c.moe.numExpertsPerToken > c.moe.numExperts) {
      throw new ConfigError(
        'moe.numExpertsPerToken',
        `${c.moe.numExpertsPerToken} is more than numExperts (${c.moe.numExperts})`,
      );
    }
    if (c.ffnType !== 'gated') throw new ConfigError('moe', 'experts are gated FFNs; ffnType must be gated');
    const g = c.moe.groupLimit;
    if (g) {
      positiveInt('moe.groupLimit.numGroups', g.numGroups);
      positiveInt('moe.groupLimit.topkGroup', g.topkGroup);
      if (c.moe.numExperts % g.numGroups !== 0)
        throw new ConfigError(
          'moe.groupLimit.numGroups',
          `${c.moe.numExperts} experts do not split into ${g.numGroups} groups`,
        );
      if (g.topkGroup > g.numGroups)
        throw new ConfigError(
          'moe.groupLimit.topkGroup',
          `${g.topkGroup} is more than numGroups (${g.numGroups})`,
        );
      oneOf('moe.groupLimit.groupScore', g.groupScore, ['max', 'top2_sum'] as const);
    }
  }
  if (c.positionEmbedding === 'learned' && c.maxPositionEmbeddings > 1 << 20) {
    throw new ConfigError('maxPositionEmbeddings', 'a learned position table this large is not sensible');
  }
  for (const id of c.eosTokenIds) {
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)
      throw new ConfigError('eosTokenIds', `id ${id} is outside the vocabulary`);
  }
  positive('initializerRange', c.initializerRange);
}
