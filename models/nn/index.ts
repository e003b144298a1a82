/** nn: modules and layers, PyTorch's names in camelCase. */
export { Module, Parameter } from './module';
export type { StateDict, LoadResult, TensorData, ForwardHook, ForwardPreHook } from './module';
export { Conv1d, Conv2d, ConvTranspose2d } from './conv';
export type { Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, PaddingMode } from './conv';
export { ConstantPad1d, ConstantPad2d, ZeroPad2d, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d } from './padding';
export { BatchNorm1d, BatchNorm2d } from './batchnorm';
export type { BatchNormOptions } from './batchnorm';
export { Linear } from './linear';
export { MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d } from './pooling';
export { Upsample, PixelShuffle, PixelUnshuffle } from './upsampling';
export type { UpsampleOptions } from './upsampling';
export {
  ReLU, Sigmoid, Tanh, LeakyReLU, ELU, SELU, SiLU, Mish, GELU, Softplus, Hardtanh, ReLU6, LogSigmoid, Softmax, LogSoftmax,
} from './activation';
export { LayerNorm, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d } from './normalization';
export type { LayerNormOptions, GroupNormOptions, InstanceNormOptions } from './normalization';
export { Dropout, Dropout2d } from './dropout';
export { Sequential, Identity, Flatten, Unflatten, ModuleList, ModuleDict, ParameterList } from './container';
export type { ModuleDictEntries } from './container';
export * as init from './init';
export { CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss } from './loss';
export type {
  CrossEntropyLossOptions, NLLLossOptions, ReductionOptions, SmoothL1LossOptions, HuberLossOptions, BCELossOptions, BCEWithLogitsLossOptions,
} from './loss';
export { Embedding } from './embedding';
export type { EmbeddingModuleOptions } from './embedding';
export { RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU } from './rnn';
export type { LSTMOptions, RNNBaseOptions, RNNOptions } from './rnn';
export {
  MultiheadAttention, NonDynamicallyQuantizableLinear, TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder,
  generateSquareSubsequentMask,
} from './transformer';
export type {
  MaskType, MultiheadAttentionOptions, MultiheadAttentionForwardOptions, TransformerEncoderLayerOptions, TransformerEncoderLayerForwardOptions,
  TransformerEncoderForwardOptions, TransformerDecoderLayerOptions, TransformerDecoderLayerForwardOptions, TransformerDecoderForwardOptions,
} from './transformer';
