import { isoSeconds } from '../../core/clock.js';
import { ApiError, errors } from '../../core/errors.js';
import type { ClassesService } from './classes.js';
import { CLASS_NAME, type FieldType, readArray, readLocation, typedScalar } from './fields.js';

/** The values of a dialog's custom data as stored and sent: typed by the class's fields. */
export type DialogDataValues = Record<string, string | number | boolean | Array<string | number | boolean> | number[] | null>;

/**
 * Chat dialogs keep custom data (`data[class_name]` plus fields) described by
 * a custom-object class, as QuickBlox does. The chat module asks here, never
 * the class tables: the class says which fields exist and how each is typed.
 */
export class DialogDataSchema {
  constructor(private readonly classes: ClassesService) {}

  /** The fields of the class a dialog names; 422 when there is no such class. */
  async fields(applicationId: number, className: unknown): Promise<Map<string, FieldType>> {
    if (typeof className !== 'string' || !CLASS_NAME.test(className)) {
      throw errors.validation('data.class_name', 'is not a class name');
    }
    try {
      const cls = await this.classes.show(applicationId, className);
      return new Map(cls.fields.map((field) => [field.name, field.type]));
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 404) {
        throw errors.validation('data.class_name', `names no class of this application (${className})`);
      }
      throw error;
    }
  }

  /** The request's data fields, each typed by its field; unknown fields and file fields are refused. */
  read(fields: Map<string, FieldType>, raw: Record<string, unknown>): DialogDataValues {
    const values: DialogDataValues = {};
    for (const [name, value] of Object.entries(raw)) {
      if (name === 'class_name') continue;
      const type = fields.get(name);
      if (!type) throw errors.validation(`data.${name.slice(0, 64)}`, 'is not a field of the class');
      values[name] = storedValue(type, `data.${name}`, value);
    }
    return values;
  }

  /** A filter value for a data field, comparable with the stored value. */
  filterValue(type: FieldType, name: string, value: unknown): string | number | boolean {
    if (type === 'Array' || type === 'Location' || type === 'File') {
      // Arrays match on an element, as custom-object queries do.
      return typeof value === 'string' ? value : String(value);
    }
    const stored = storedValue(type, name, value);
    if (stored === null || typeof stored === 'object') throw errors.validation(name, 'is not a value to compare');
    return stored;
  }
}

function storedValue(type: FieldType, name: string, value: unknown): DialogDataValues[string] {
  if (value === null || value === undefined || (value === '' && type !== 'String')) return null;
  switch (type) {
    case 'Array':
      return readArray(name, value);
    case 'Location':
      return readLocation(name, value);
    case 'File':
      throw errors.validation(name, 'file fields cannot be dialog data');
    case 'Boolean':
      return typedScalar(type, name, value) === 1;
    case 'Date':
      // ISO seconds compare as text in both databases.
      return isoSeconds(Number(typedScalar(type, name, value)));
    default:
      return typedScalar(type, name, value);
  }
}
