/**
 * ResNet as torchvision builds it (torchvision/models/resnet.py): conv3x3, conv1x1, BasicBlock,
 * _make_layer, resnet18 = [2, 2, 2, 2] — with the same state_dict key names and initialisation
 * (Conv2d weights kaiming_normal(fan_out, relu), BatchNorm γ = 1, β = 0, Linear PyTorch's default).
 *
 * Two additions: `width` scales every stage (width·1, 2, 4, 8; 64 is torchvision's), and
 * `variant: 'cifar'` swaps the 7×7/2 stem and 3×3/2 max pool for a 3×3/1 stem with no pooling,
 * which suits 32×32 images. `plain18` / `plain34` are the same networks without the shortcuts,
 * for studying what the shortcuts do to gradient flow.
 */
import type { DType } from '../lib/core/dtype';
import { fail, fmtValue } from '../lib/core/errors';
import { checkKnownKeys } from '../lib/core/errors';
import * as F from '../autograd/functional';
import type { Tensor } from '../autograd/tensor';
import { BatchNorm2d } from './nn/batchnorm';
import { Identity, Sequential } from './nn/container';
import { Conv2d } from './nn/conv';
import { constant_, kaimingNormal_ } from './nn/init';
import { Linear } from './nn/linear';
import { Module } from './nn/module';
import { AdaptiveAvgPool2d, MaxPool2d } from './nn/pooling';
import { ReLU } from './nn/activation';

export function conv3x3(inPlanes: number, outPlanes: number, stride = 1, dtype: DType = 'float32'): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false, dtype });
}

export function conv1x1(inPlanes: number, outPlanes: number, stride = 1, dtype: DType = 'float32'): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false, dtype });
}

/**
 * The layers as registered are the stock BatchNorm2d and ReLU (forward not overridden on the class
 * or the instance) without forward hooks, so bn → relu (→ add → relu) may run as the fused op, which
 * gives the same bits. After `block.relu = new Tanh()` or `block.bn2 = new Identity()` (assignment
 * replaces the registered child, as torch's __setattr__) forward() runs the replacements, as
 * torchvision's forward would; with a hook on either it calls both, so the hook sees their own output.
 */
function fusable(bn: Module, relu: Module): bn is BatchNorm2d {
  return bn instanceof BatchNorm2d && bn.forward === BatchNorm2d.prototype.forward
    && bn.forwardRelu === BatchNorm2d.prototype.forwardRelu && bn.forwardAddRelu === BatchNorm2d.prototype.forwardAddRelu
    && relu instanceof ReLU && relu.forward === ReLU.prototype.forward
    && bn._forwardPreHooks === null && bn._forwardHooks === null && relu._forwardPreHooks === null && relu._forwardHooks === null;
}

/** relu(bn(x)) through the modules registered as `bn` and `relu` (children run by call(), so their hooks fire). */
function bnRelu(bn: Module, relu: Module, x: Tensor): Tensor {
  return fusable(bn, relu) ? bn.forwardRelu(x) : relu.call(bn.call(x)) as Tensor;
}

/** conv3x3-BN-ReLU-conv3x3-BN: the residual branch f(x) shared by BasicBlock and PlainBlock. */
abstract class TwoConvBlock extends Module {
  static readonly expansion = 1;
  // Assignable, as ResNet's layers: `block.relu = new Tanh()` replaces the registered child.
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  conv2: Conv2d;
  bn2: BatchNorm2d;

  constructor(inPlanes: number, planes: number, stride: number, dtype: DType) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(inPlanes, planes, stride, dtype));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes, { dtype }));
    this.relu = this.registerModule('relu', new ReLU());
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, 1, dtype));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes, { dtype }));
  }

  /** The residual branch f(x): conv-bn-relu-conv-bn. */
  branch(x: Tensor): Tensor {
    return this.bn2.call(this.conv2.call(bnRelu(this.bn1, this.relu, this.conv1.call(x))));
  }
}

/**
 * Two 3×3 convolutions with batch norm, plus the shortcut: relu(branch(x) + shortcut(x)), where the
 * shortcut is the identity or, when the shape changes, a 1×1 conv + BN (`downsample`).
 * The gradient of branch(x) + shortcut(x) with respect to x is I + branch'(x): the identity term
 * is what keeps gradients from vanishing in deep stacks.
 */
export class BasicBlock extends TwoConvBlock {
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, stride = 1, downsample: Sequential | null = null, dtype: DType = 'float32') {
    super(inPlanes, planes, stride, dtype);
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }

  /** The shortcut: x itself, or the 1×1 projection when stride or width changes. */
  shortcut(x: Tensor): Tensor {
    return this.downsample ? this.downsample.call(x) : x;
  }

  /**
   * relu(branch(x) + shortcut(x)), with the last bn, the add and the relu as one fused op (stock layers,
   * no hooks on them); otherwise the children are called in torchvision's order (bn2, then downsample,
   * then relu), the order their hooks fire in.
   */
  forward(x: Tensor): Tensor {
    const h = this.conv2.call(bnRelu(this.bn1, this.relu, this.conv1.call(x)));
    const bn2: Module = this.bn2; // as registered (maybe replaced), so the fusable check narrows it alone
    if (fusable(bn2, this.relu)) return bn2.forwardAddRelu(h, this.shortcut(x));
    const out = bn2.call(h) as Tensor;
    return this.relu.call(F.add(out, this.shortcut(x))) as Tensor;
  }
}

/** BasicBlock without the shortcut: relu(branch(x)); a stage's first block just convolves with stride. */
export class PlainBlock extends TwoConvBlock {
  constructor(inPlanes: number, planes: number, stride = 1, _downsample: Sequential | null = null, dtype: DType = 'float32') {
    super(inPlanes, planes, stride, dtype);
  }

  forward(x: Tensor): Tensor {
    return this.relu.call(this.branch(x));
  }
}

export type Variant = 'imagenet' | 'cifar';

export interface ResNetOptions {
  numClasses?: number;
  /** Channels of the stem and first stage; stages are width·1, 2, 4, 8. torchvision: 64. */
  width?: number;
  variant?: Variant;
  /** Start each block's last BN at γ = 0, so every residual block begins as the identity. */
  zeroInitResidual?: boolean;
  dtype?: DType;
}

const RESNET_KEYS = ['numClasses', 'width', 'variant', 'zeroInitResidual', 'dtype'] as const;

type BlockClass = typeof BasicBlock | typeof PlainBlock;

export class ResNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  maxpool: Module;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;
  readonly variant: Variant;
  private inPlanes: number;

  constructor(block: BlockClass, layers: readonly number[], options: ResNetOptions = {}) {
    super();
    checkKnownKeys('ResNet', options, RESNET_KEYS);
    const numClasses = options.numClasses ?? 1000;
    const width = options.width ?? 64;
    const variant = options.variant ?? 'imagenet';
    const dtype = options.dtype ?? 'float32';
    if (!Number.isInteger(numClasses) || numClasses < 1) fail('ResNet', `numClasses must be a positive integer, got ${fmtValue(numClasses)}`);
    if (!Number.isInteger(width) || width < 1) fail('ResNet', `width must be a positive integer, got ${fmtValue(width)}`);
    if (variant !== 'imagenet' && variant !== 'cifar') fail('ResNet', `variant must be 'imagenet' or 'cifar', got ${JSON.stringify(variant)}`);
    if (layers.length !== 4 || !layers.every((n) => Number.isInteger(n) && n >= 1)) {
      fail('ResNet', `layers must be 4 positive block counts, got ${JSON.stringify(layers)}`);
    }
    this.variant = variant;
    this.inPlanes = width;
    this.conv1 = this.registerModule('conv1', variant === 'imagenet'
      ? new Conv2d(3, width, 7, { stride: 2, padding: 3, bias: false, dtype })
      : new Conv2d(3, width, 3, { stride: 1, padding: 1, bias: false, dtype }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width, { dtype }));
    this.relu = this.registerModule('relu', new ReLU());
    this.maxpool = this.registerModule('maxpool', variant === 'imagenet' ? new MaxPool2d(3, { stride: 2, padding: 1 }) : new Identity());
    this.layer1 = this.registerModule('layer1', this.makeLayer(block, width, layers[0], 1, dtype));
    this.layer2 = this.registerModule('layer2', this.makeLayer(block, width * 2, layers[1], 2, dtype));
    this.layer3 = this.registerModule('layer3', this.makeLayer(block, width * 4, layers[2], 2, dtype));
    this.layer4 = this.registerModule('layer4', this.makeLayer(block, width * 8, layers[3], 2, dtype));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.fc = this.registerModule('fc', new Linear(width * 8 * block.expansion, numClasses, { dtype }));

    for (const m of this.modules()) {
      if (m instanceof Conv2d) kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      else if (m instanceof BatchNorm2d) {
        constant_(m.weight!, 1);
        constant_(m.bias!, 0);
      }
    }
    if (options.zeroInitResidual) {
      for (const m of this.modules()) if (m instanceof BasicBlock) constant_(m.bn2.weight!, 0);
    }
  }

  /** torchvision's _make_layer: the first block may downsample (stride and/or width), the rest keep shape. */
  private makeLayer(block: BlockClass, planes: number, blocks: number, stride: number, dtype: DType): Sequential {
    let downsample: Sequential | null = null;
    if (block === BasicBlock && (stride !== 1 || this.inPlanes !== planes * block.expansion)) {
      downsample = new Sequential(conv1x1(this.inPlanes, planes * block.expansion, stride, dtype), new BatchNorm2d(planes * block.expansion, { dtype }));
    }
    const layers: Module[] = [new block(this.inPlanes, planes, stride, downsample, dtype)];
    this.inPlanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) layers.push(new block(this.inPlanes, planes, 1, null, dtype));
    return new Sequential(...layers);
  }

  /** Everything up to the pooled features [N, width·8]. */
  features(x: Tensor): Tensor {
    let h = this.maxpool.call(bnRelu(this.bn1, this.relu, this.conv1.call(x))) as Tensor;
    h = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(h))));
    // torch.flatten(x, 1) as torchvision's forward does: no module, so children() are torchvision's.
    return F.flatten(this.avgpool.call(h), 1);
  }

  forward(x: Tensor): Tensor {
    return this.fc.call(this.features(x));
  }
}

/** torchvision.models.resnet18(): 4 stages of 2 BasicBlocks; 11,689,512 parameters for 1000 classes. */
export function resnet18(options: ResNetOptions = {}): ResNet {
  return new ResNet(BasicBlock, [2, 2, 2, 2], options);
}

export function resnet34(options: ResNetOptions = {}): ResNet {
  return new ResNet(BasicBlock, [3, 4, 6, 3], options);
}

/** resnet18 without shortcut connections (same layers, same initialisation). */
export function plain18(options: ResNetOptions = {}): ResNet {
  return new ResNet(PlainBlock, [2, 2, 2, 2], options);
}

export function plain34(options: ResNetOptions = {}): ResNet {
  return new ResNet(PlainBlock, [3, 4, 6, 3], options);
}
