/** curves.svg of a training run, drawn with the scripts' shared chart writer. */
import { renderPanels, type PanelSpec } from '../lib/svg_chart';

export interface CurvePoint {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  trainAccuracy: number;
  testAccuracy: number;
}

/** curves.svg of a run: loss and accuracy (%) against epoch, train solid, test dashed. */
export function trainingCurvesSvg(history: readonly CurvePoint[], title?: string): string {
  const train = '#1f77b4';
  const test = '#d62728';
  const loss: PanelSpec = {
    title: 'Loss', xLabel: 'epoch', yLabel: 'cross-entropy loss', yInclude: [0],
    series: [
      { label: 'train', color: train, points: history.map((h) => [h.epoch, h.trainLoss] as const) },
      { label: 'test', color: test, dashed: true, points: history.map((h) => [h.epoch, h.testLoss] as const) },
    ],
  };
  const acc: PanelSpec = {
    title: 'Accuracy', xLabel: 'epoch', yLabel: 'accuracy (%)', yClamp: [0, 100], legend: 'bottom-right',
    series: [
      { label: 'train', color: train, points: history.map((h) => [h.epoch, 100 * h.trainAccuracy] as const) },
      { label: 'test', color: test, dashed: true, points: history.map((h) => [h.epoch, 100 * h.testAccuracy] as const) },
    ],
  };
  return renderPanels([loss, acc], title);
}
